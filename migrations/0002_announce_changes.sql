-- Every change to applications or configurations is announced on the 'config_changes'
-- channel, in the transaction that makes it, whoever makes it (the service, a migration, an
-- operator's psql): each service instance LISTENs and drops the read views the change
-- affects. PostgreSQL delivers notifications only on commit, so a rolled-back change is
-- never announced.
--
-- Payloads: 'a:<application id>', 'c:<configuration id>:<application id>', and '*' (drop
-- everything) for TRUNCATE.

CREATE FUNCTION announce_config_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('config_changes', '*');
    ELSIF TG_TABLE_NAME = 'applications' THEN
        PERFORM pg_notify('config_changes', 'a:' || COALESCE(NEW.id, OLD.id));
    ELSE
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('config_changes', 'c:' || OLD.id || ':' || OLD.application_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify('config_changes', 'c:' || NEW.id || ':' || NEW.application_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_announce
AFTER INSERT OR UPDATE OR DELETE ON applications
FOR EACH ROW EXECUTE FUNCTION announce_config_change();

CREATE TRIGGER configurations_announce
AFTER INSERT OR UPDATE OR DELETE ON configurations
FOR EACH ROW EXECUTE FUNCTION announce_config_change();

CREATE TRIGGER applications_announce_truncate
AFTER TRUNCATE ON applications
FOR EACH STATEMENT EXECUTE FUNCTION announce_config_change();

CREATE TRIGGER configurations_announce_truncate
AFTER TRUNCATE ON configurations
FOR EACH STATEMENT EXECUTE FUNCTION announce_config_change();
