-- A JSON Schema per configuration. The service validates every change of a configuration's
-- document against it, and the schema against the document when it is set (commands/
-- validation.py); here, it is kept and recorded like everything else: a change of a schema is
-- a revision, with its own version (1 when first set, +1 each change, continuing after it is
-- removed), its version history (kept after removal) and its entry in the change feed, of
-- kind 'schema' (id: the configuration's, name: the configuration's), announced as usual.
-- A configuration's deletion removes its schema (recorded too); a schema's history stays.

ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN ('application', 'configuration', 'schema'));

CREATE TABLE configuration_schemas (
    configuration_id varchar(26) PRIMARY KEY REFERENCES configurations (id) ON DELETE CASCADE,
    schema           json        NOT NULL CHECK (json_typeof(schema) = 'object'),  -- as written
    draft            text        NOT NULL CHECK (draft IN ('2020-12', '2019-09', 'draft-07')),
    version          integer     NOT NULL,
    revision         bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Every version of every configuration's schema, kept after the schema (or its configuration)
-- is gone.
CREATE TABLE configuration_schema_versions (
    configuration_id varchar(26) NOT NULL,
    version          integer     NOT NULL,
    revision         bigint      NOT NULL,
    application_id   varchar(26) NOT NULL,
    schema           json        NOT NULL,
    draft            text        NOT NULL,
    created_at       timestamptz NOT NULL,
    actor            text,
    PRIMARY KEY (configuration_id, version)
);

CREATE TRIGGER configuration_schema_versions_append_only
BEFORE UPDATE OR DELETE ON configuration_schema_versions
FOR EACH ROW EXECUTE FUNCTION refuse_rewriting_history();
CREATE TRIGGER configuration_schema_versions_no_truncate
BEFORE TRUNCATE ON configuration_schema_versions
FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();

CREATE FUNCTION record_schema_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry changes;
    of_configuration varchar(26) := CASE WHEN TG_OP = 'DELETE' THEN OLD.configuration_id ELSE NEW.configuration_id END;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.configuration_id <> OLD.configuration_id THEN
        RAISE EXCEPTION 'a schema keeps its configuration' USING ERRCODE = 'check_violation';
    END IF;
    -- The configuration's application and name: from its latest version, which outlives it
    -- (a schema is deleted with its configuration).
    SELECT v.application_id, v.name INTO entry.application_id, entry.name
    FROM configuration_versions v
    WHERE v.configuration_id = of_configuration
    ORDER BY v.version DESC LIMIT 1;
    entry.revision := next_revision();
    entry.at := clock_timestamp();
    entry.actor := change_setting('actor');
    entry.request_id := change_setting('request_id');
    entry.kind := 'schema';
    entry.id := of_configuration;
    IF TG_OP = 'DELETE' THEN
        entry.action := 'deleted';
        entry.version := OLD.version;
    ELSE
        IF TG_OP = 'INSERT' THEN
            -- A schema set again after its removal continues its own history.
            SELECT max(v.version), min(v.created_at) INTO NEW.version, NEW.created_at
            FROM configuration_schema_versions v WHERE v.configuration_id = NEW.configuration_id;
            NEW.version := coalesce(NEW.version, 0) + 1;
            NEW.created_at := coalesce(NEW.created_at, entry.at);
            entry.action := coalesce(change_setting('action'), 'created');
        ELSE
            NEW.version := OLD.version + 1;
            NEW.created_at := OLD.created_at;
            entry.action := coalesce(change_setting('action'), 'updated');
        END IF;
        NEW.revision := entry.revision;
        NEW.updated_at := entry.at;
        INSERT INTO configuration_schema_versions
            (configuration_id, version, revision, application_id, schema, draft, created_at, actor)
        VALUES
            (NEW.configuration_id, NEW.version, entry.revision, entry.application_id, NEW.schema, NEW.draft,
             entry.at, entry.actor);
        entry.version := NEW.version;
    END IF;
    INSERT INTO changes VALUES (entry.*);
    PERFORM announce_change(entry);
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER configuration_schemas_record
BEFORE INSERT OR UPDATE OR DELETE ON configuration_schemas
FOR EACH ROW EXECUTE FUNCTION record_schema_change();
CREATE TRIGGER configuration_schemas_no_truncate
BEFORE TRUNCATE ON configuration_schemas
FOR EACH STATEMENT EXECUTE FUNCTION refuse_unrecorded_truncate();

-- The revision of a configuration's current schema, 0 when it has none: what a write of its
-- document was validated against, which the write's statement checks is still current.
CREATE FUNCTION configuration_schema_revision(of_configuration varchar) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.revision FROM configuration_schemas s WHERE s.configuration_id = of_configuration), 0)
$$;
