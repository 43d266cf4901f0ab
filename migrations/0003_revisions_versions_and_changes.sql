-- Every change is a numbered revision. One cluster-wide sequence numbers the changes; a
-- transaction-level advisory lock, taken before a number is drawn and held until commit,
-- makes numbers become visible in commit order: a reader that has seen revision N never
-- later meets a change numbered below N.
--
-- The recording is done here, by triggers, for whoever makes the change (the service, an
-- operator's psql): each change gets its revision, a new version of the row (configurations
-- keep every version), an entry in the append-only change feed, and an announcement on the
-- 'config_changes' channel carrying that entry. The service tells the triggers who made a
-- change and why through three transaction-local settings (config_service.actor,
-- .request_id, .action); a change made without them is recorded with actor and request id
-- null. This replaces the announcements of 0002.

CREATE SEQUENCE revisions AS bigint;

CREATE FUNCTION next_revision() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    -- Re-entrant: after the first change of a transaction this is a local lookup.
    PERFORM pg_advisory_xact_lock(7201164812);
    RETURN nextval('revisions');
END
$$;

-- The change feed: one row per change, written in the change's transaction, never altered.
CREATE TABLE changes (
    revision       bigint       PRIMARY KEY,
    at             timestamptz  NOT NULL,
    actor          text,
    request_id     text,
    action         text         NOT NULL CHECK (action IN ('created', 'updated', 'deleted', 'restored')),
    kind           text         NOT NULL CHECK (kind IN ('application', 'configuration')),
    id             varchar(26)  NOT NULL,
    application_id varchar(26)  NOT NULL,  -- an application's own id for kind 'application'
    name           varchar(256) NOT NULL,
    version        integer      NOT NULL
);

-- Every version of every configuration, kept after the configuration is deleted.
CREATE TABLE configuration_versions (
    configuration_id varchar(26)   NOT NULL,
    version          integer       NOT NULL,
    revision         bigint        NOT NULL,
    application_id   varchar(26)   NOT NULL,
    name             varchar(256)  NOT NULL,
    comments         varchar(1024),
    config           jsonb         NOT NULL,
    created_at       timestamptz   NOT NULL,
    actor            text,
    PRIMARY KEY (configuration_id, version)
);

-- History is never rewritten: the database itself refuses to alter the feed or the versions.
CREATE FUNCTION refuse_rewriting_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER changes_append_only
BEFORE UPDATE OR DELETE ON changes
FOR EACH ROW EXECUTE FUNCTION refuse_rewriting_history();
CREATE TRIGGER changes_no_truncate
BEFORE TRUNCATE ON changes
FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();
CREATE TRIGGER configuration_versions_append_only
BEFORE UPDATE OR DELETE ON configuration_versions
FOR EACH ROW EXECUTE FUNCTION refuse_rewriting_history();
CREATE TRIGGER configuration_versions_no_truncate
BEFORE TRUNCATE ON configuration_versions
FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();

-- TRUNCATE would change the tables without recording it: DELETE is recorded, row by row.
CREATE FUNCTION refuse_unrecorded_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is not recorded in the change feed: use DELETE', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- -- Existing data: version 1, created at this migration, one revision each -----------------

DROP TRIGGER applications_announce ON applications;
DROP TRIGGER configurations_announce ON configurations;
DROP TRIGGER applications_announce_truncate ON applications;
DROP TRIGGER configurations_announce_truncate ON configurations;
DROP FUNCTION announce_config_change();

ALTER TABLE applications
    ADD COLUMN version    integer,
    ADD COLUMN revision   bigint,
    ADD COLUMN created_at timestamptz,
    ADD COLUMN updated_at timestamptz;
ALTER TABLE configurations
    ADD COLUMN version    integer,
    ADD COLUMN revision   bigint,
    ADD COLUMN created_at timestamptz,
    ADD COLUMN updated_at timestamptz;

UPDATE applications a
SET version = 1, revision = n.revision, created_at = now(), updated_at = now()
FROM (SELECT id, row_number() OVER (ORDER BY id) AS revision FROM applications) n
WHERE a.id = n.id;

UPDATE configurations c
SET version = 1, revision = n.revision, created_at = now(), updated_at = now()
FROM (
    SELECT id, (SELECT count(*) FROM applications) + row_number() OVER (ORDER BY id) AS revision
    FROM configurations
) n
WHERE c.id = n.id;

SELECT setval(
    'revisions',
    greatest(1, (SELECT count(*) FROM applications) + (SELECT count(*) FROM configurations)),
    (SELECT count(*) FROM applications) + (SELECT count(*) FROM configurations) > 0
);

INSERT INTO changes (revision, at, action, kind, id, application_id, name, version)
SELECT revision, created_at, 'created', 'application', id, id, name, 1 FROM applications;
INSERT INTO changes (revision, at, action, kind, id, application_id, name, version)
SELECT revision, created_at, 'created', 'configuration', id, application_id, name, 1 FROM configurations;
INSERT INTO configuration_versions
    (configuration_id, version, revision, application_id, name, comments, config, created_at)
SELECT id, 1, revision, application_id, name, comments, config, created_at FROM configurations;

ALTER TABLE applications
    ALTER COLUMN version SET NOT NULL,
    ALTER COLUMN revision SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE configurations
    ALTER COLUMN version SET NOT NULL,
    ALTER COLUMN revision SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN updated_at SET NOT NULL;

-- -- Recording each change -------------------------------------------------------------------

-- The feed entry of a change, as the announcement carries it (and the feed shows it).
CREATE FUNCTION announce_change(entry changes) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('config_changes', json_build_object(
        'revision', entry.revision,
        'at', to_char(entry.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor', entry.actor,
        'request_id', entry.request_id,
        'action', entry.action,
        'kind', entry.kind,
        'id', entry.id,
        'application_id', entry.application_id,
        'name', entry.name,
        'version', entry.version
    )::text)
$$;

-- Who made the change and why, as the service set them for this statement (else null).
CREATE FUNCTION change_setting(name text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('config_service.' || name, true), '')
$$;

CREATE FUNCTION record_application_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry changes;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'an application keeps its id' USING ERRCODE = 'check_violation';
    END IF;
    entry.revision := next_revision();
    entry.at := clock_timestamp();
    entry.actor := change_setting('actor');
    entry.request_id := change_setting('request_id');
    entry.kind := 'application';
    IF TG_OP = 'DELETE' THEN
        entry.action := 'deleted';
        entry.id := OLD.id;
        entry.name := OLD.name;
        entry.version := OLD.version;
    ELSE
        IF TG_OP = 'INSERT' THEN
            NEW.version := 1;
            NEW.created_at := entry.at;
            entry.action := coalesce(change_setting('action'), 'created');
        ELSE
            NEW.version := OLD.version + 1;
            NEW.created_at := OLD.created_at;
            entry.action := coalesce(change_setting('action'), 'updated');
        END IF;
        NEW.revision := entry.revision;
        NEW.updated_at := entry.at;
        entry.id := NEW.id;
        entry.name := NEW.name;
        entry.version := NEW.version;
    END IF;
    entry.application_id := entry.id;
    INSERT INTO changes VALUES (entry.*);
    PERFORM announce_change(entry);
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE FUNCTION record_configuration_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry changes;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.id <> OLD.id OR NEW.application_id <> OLD.application_id) THEN
        RAISE EXCEPTION 'a configuration keeps its id and its application' USING ERRCODE = 'check_violation';
    END IF;
    entry.revision := next_revision();
    entry.at := clock_timestamp();
    entry.actor := change_setting('actor');
    entry.request_id := change_setting('request_id');
    entry.kind := 'configuration';
    IF TG_OP = 'DELETE' THEN
        entry.action := 'deleted';
        entry.id := OLD.id;
        entry.application_id := OLD.application_id;
        entry.name := OLD.name;
        entry.version := OLD.version;
    ELSE
        IF TG_OP = 'INSERT' THEN
            -- A configuration restored after its deletion continues its own history.
            SELECT max(version), min(created_at) INTO NEW.version, NEW.created_at
            FROM configuration_versions WHERE configuration_id = NEW.id;
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
        INSERT INTO configuration_versions
            (configuration_id, version, revision, application_id, name, comments, config, created_at, actor)
        VALUES
            (NEW.id, NEW.version, entry.revision, NEW.application_id, NEW.name, NEW.comments, NEW.config,
             entry.at, entry.actor);
        entry.id := NEW.id;
        entry.application_id := NEW.application_id;
        entry.name := NEW.name;
        entry.version := NEW.version;
    END IF;
    INSERT INTO changes VALUES (entry.*);
    PERFORM announce_change(entry);
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER applications_record
BEFORE INSERT OR UPDATE OR DELETE ON applications
FOR EACH ROW EXECUTE FUNCTION record_application_change();
CREATE TRIGGER configurations_record
BEFORE INSERT OR UPDATE OR DELETE ON configurations
FOR EACH ROW EXECUTE FUNCTION record_configuration_change();
CREATE TRIGGER applications_no_truncate
BEFORE TRUNCATE ON applications
FOR EACH STATEMENT EXECUTE FUNCTION refuse_unrecorded_truncate();
CREATE TRIGGER configurations_no_truncate
BEFORE TRUNCATE ON configurations
FOR EACH STATEMENT EXECUTE FUNCTION refuse_unrecorded_truncate();

-- -- What the service needs of the database --------------------------------------------------

-- An application's ETag: its revision, and a digest of its configuration ids (they are part of
-- its view). Both the read side and the If-Match checks of the write side use this one.
CREATE FUNCTION application_etag(app_id varchar, app_revision bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT app_revision || '-' || left(md5(coalesce(string_agg(c.id, ',' ORDER BY c.id), '')), 12)
    FROM configurations c
    WHERE c.application_id = app_id
$$;

-- RFC 7396 JSON Merge Patch: null removes a key, objects merge, anything else replaces.
CREATE FUNCTION jsonb_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN patch
        ELSE (
            SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
            FROM (
                SELECT t.key, t.value
                FROM jsonb_each(CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}' END) t
                WHERE NOT patch ? t.key
                UNION ALL
                SELECT p.key, jsonb_merge_patch(
                    CASE WHEN jsonb_typeof(target) = 'object' THEN target -> p.key END, p.value)
                FROM jsonb_each(patch) p
                WHERE jsonb_typeof(p.value) <> 'null'
            ) merged
        )
    END
$$;

-- A batch of commands in one round trip, as one transaction: each statement runs in a
-- subtransaction of its own, so one that fails (a name taken, say) fails alone, and the
-- others commit together. Each statement returns at most one jsonb value: its outcome.
CREATE FUNCTION run_commands(statements text[], actors text[], request_ids text[], actions text[])
RETURNS TABLE (ordinal integer, outcome jsonb, error_code text, error_constraint text, error_message text)
LANGUAGE plpgsql AS $$
BEGIN
    -- The revision lock, once, first: commands of other transactions wait here, not midway.
    PERFORM pg_advisory_xact_lock(7201164812);
    FOR i IN 1 .. coalesce(array_length(statements, 1), 0) LOOP
        ordinal := i;
        outcome := NULL;
        error_code := NULL;
        error_constraint := NULL;
        error_message := NULL;
        PERFORM set_config('config_service.actor', coalesce(actors[i], ''), true),
                set_config('config_service.request_id', coalesce(request_ids[i], ''), true),
                set_config('config_service.action', coalesce(actions[i], ''), true);
        BEGIN
            EXECUTE statements[i] INTO outcome;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS
                error_code = RETURNED_SQLSTATE,
                error_constraint = CONSTRAINT_NAME,
                error_message = MESSAGE_TEXT;
        END;
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('config_service.actor', '', true),
            set_config('config_service.request_id', '', true),
            set_config('config_service.action', '', true);
END
$$;
