-- Staged releases. Each configuration has a release policy and a live version: the version the
-- client routes (/config) serve. With 'immediate' (the default) every change is live at once;
-- with 'staged' a change makes a new version that clients get only through a rollout, which
-- moves them from the live version to another in steps of a growing share, and rolls back by
-- itself when clients report that they could not apply it. Clients say who they are, and the
-- instances note which client holds which version (the fleet).

-- -- Release policy and live version ----------------------------------------------------------

ALTER TABLE configurations
    ADD COLUMN release text NOT NULL DEFAULT 'immediate' CHECK (release IN ('immediate', 'staged')),
    ADD COLUMN live_version integer;
-- Existing configurations are immediate: their latest version is live. (Not a change of theirs:
-- the recording trigger stays out of it.)
ALTER TABLE configurations DISABLE TRIGGER configurations_record;
UPDATE configurations SET live_version = version;
ALTER TABLE configurations ENABLE TRIGGER configurations_record;
ALTER TABLE configurations ALTER COLUMN live_version SET NOT NULL;

-- -- The feed knows rollouts -------------------------------------------------------------------

ALTER TABLE changes
    ADD COLUMN configuration_id varchar(26),  -- a rollout's configuration
    ADD COLUMN percent          smallint,     -- a rollout's share of clients after the change
    ADD COLUMN reason           text;         -- why a rollout ended, when it says
ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check
    CHECK (kind IN ('application', 'configuration', 'schema', 'rollout'));
ALTER TABLE changes DROP CONSTRAINT changes_action_check;
ALTER TABLE changes ADD CONSTRAINT changes_action_check CHECK (action IN (
    'created', 'updated', 'deleted', 'restored',
    'started', 'step', 'paused', 'resumed', 'rolled_back', 'promoted', 'completed'
));

CREATE OR REPLACE FUNCTION announce_change(entry changes) RETURNS void
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
        'version', entry.version,
        'configuration_id', entry.configuration_id,
        'percent', entry.percent,
        'reason', entry.reason
    )::text)
$$;

-- -- Rollouts ------------------------------------------------------------------------------------

CREATE TABLE rollouts (
    id               varchar(26)  PRIMARY KEY CHECK (id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'),
    configuration_id varchar(26)  NOT NULL,
    application_id   varchar(26)  NOT NULL,
    from_version     integer      NOT NULL,
    to_version       integer      NOT NULL,
    steps            smallint[]   NOT NULL,
    step_seconds     integer      NOT NULL CHECK (step_seconds BETWEEN 1 AND 86400),
    max_failures     integer      NOT NULL CHECK (max_failures >= 0),
    percent          smallint     NOT NULL CHECK (percent BETWEEN 1 AND 100),
    state            text         NOT NULL CHECK (state IN ('running', 'paused', 'completed', 'rolled_back')),
    failures         integer      NOT NULL DEFAULT 0,
    started_at       timestamptz  NOT NULL,
    next_step_at     timestamptz,  -- set while running
    ended_at         timestamptz,
    reason           text,
    revision         bigint       NOT NULL  -- the latest event's
);
-- One active rollout per configuration, decided by the database.
CREATE UNIQUE INDEX rollouts_active_key ON rollouts (configuration_id) WHERE state IN ('running', 'paused');
CREATE INDEX rollouts_configuration_idx ON rollouts (configuration_id, id DESC);

-- Every event of a rollout is a revision with its feed entry: started, step, paused, resumed,
-- rolled_back, promoted, completed (the statement names promotions through
-- config_service.action; everything else follows from the state). Counting a failure that
-- changes nothing else records nothing. At completion the configuration's live version moves.
CREATE FUNCTION record_rollout_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry changes;
    actions text[];
    action text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        actions := ARRAY['started'];
    ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
        actions := CASE
            WHEN NEW.state = 'paused' THEN ARRAY['paused']
            WHEN NEW.state = 'running' THEN ARRAY['resumed']
            WHEN NEW.state = 'rolled_back' THEN ARRAY['rolled_back']
            WHEN change_setting('action') = 'promoted' THEN ARRAY['promoted', 'completed']
            ELSE ARRAY['completed']
        END;
    ELSIF NEW.percent IS DISTINCT FROM OLD.percent THEN
        actions := ARRAY['step'];
    ELSE
        RETURN NEW;  -- a failure counted, nothing more
    END IF;
    IF TG_OP = 'INSERT' AND NEW.state = 'completed' THEN
        actions := actions || 'completed';  -- a single step of 100%
    END IF;
    entry.at := clock_timestamp();
    entry.actor := change_setting('actor');
    entry.request_id := change_setting('request_id');
    entry.kind := 'rollout';
    entry.id := NEW.id;
    entry.application_id := NEW.application_id;
    entry.configuration_id := NEW.configuration_id;
    entry.name := (SELECT name FROM configurations WHERE id = NEW.configuration_id);
    entry.version := NEW.to_version;
    entry.percent := CASE WHEN NEW.state = 'rolled_back' THEN 0 ELSE NEW.percent END;
    FOREACH action IN ARRAY actions LOOP
        entry.revision := next_revision();
        entry.action := action;
        entry.reason := CASE WHEN action IN ('rolled_back', 'completed', 'promoted') THEN NEW.reason END;
        INSERT INTO changes VALUES (entry.*);
        PERFORM announce_change(entry);
    END LOOP;
    NEW.revision := entry.revision;
    IF NEW.state = 'completed' AND (TG_OP = 'INSERT' OR OLD.state <> 'completed') THEN
        -- What clients are served moves, as of this event (no new version: the content is not new).
        PERFORM set_config('config_service.live_revision', entry.revision::text, true);
        UPDATE configurations SET live_version = NEW.to_version WHERE id = NEW.configuration_id;
        PERFORM set_config('config_service.live_revision', '', true);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER rollouts_record
BEFORE INSERT OR UPDATE ON rollouts
FOR EACH ROW EXECUTE FUNCTION record_rollout_change();
CREATE TRIGGER rollouts_no_delete
BEFORE DELETE ON rollouts
FOR EACH ROW EXECUTE FUNCTION refuse_rewriting_history();

-- The configuration's recording (as in 0008), now with its release policy: an immediate
-- configuration's latest version is live; a staged one keeps its live version until a rollout
-- moves it (that move is recorded by the rollout, and is not a new version of the configuration).
CREATE OR REPLACE FUNCTION record_configuration_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry changes;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.id <> OLD.id OR NEW.application_id <> OLD.application_id) THEN
        RAISE EXCEPTION 'a configuration keeps its id and its application' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.live_version IS DISTINCT FROM OLD.live_version THEN
        IF change_setting('live_revision') IS NULL THEN
            RAISE EXCEPTION 'the live version moves through a rollout' USING ERRCODE = 'check_violation';
        END IF;
        NEW.revision := change_setting('live_revision')::bigint;
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.document IS NULL THEN
            NEW.document := json_compact(NEW.config::text)::json;
        ELSE
            NEW.config := NEW.document::jsonb;
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.document::text IS DISTINCT FROM OLD.document::text THEN
            NEW.config := NEW.document::jsonb;
        ELSIF NEW.config IS DISTINCT FROM OLD.config THEN
            NEW.document := json_compact(NEW.config::text)::json;
        END IF;
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
            NEW.live_version := NEW.version;  -- whatever its release, a new configuration is live
            entry.action := coalesce(change_setting('action'), 'created');
        ELSE
            NEW.version := OLD.version + 1;
            NEW.created_at := OLD.created_at;
            NEW.live_version := CASE WHEN NEW.release = 'immediate' THEN NEW.version ELSE OLD.live_version END;
            entry.action := coalesce(change_setting('action'), 'updated');
        END IF;
        NEW.revision := entry.revision;
        NEW.updated_at := entry.at;
        INSERT INTO configuration_versions
            (configuration_id, version, revision, application_id, name, comments, config, created_at, actor, document)
        VALUES
            (NEW.id, NEW.version, entry.revision, NEW.application_id, NEW.name, NEW.comments, NEW.config,
             entry.at, entry.actor, NEW.document);
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

-- -- What clients report, and who holds what ---------------------------------------------------

-- Each client's latest report of a configuration (not revisions: nothing of the configuration
-- changes); a failure counts once per client against the rollout it names.
CREATE TABLE client_reports (
    configuration_id varchar(26)   NOT NULL,
    client_id        varchar(128)  NOT NULL,
    version          integer       NOT NULL,
    ok               boolean       NOT NULL,
    message          varchar(1024),
    at               timestamptz   NOT NULL,
    PRIMARY KEY (configuration_id, client_id)
);

CREATE TABLE rollout_failures (
    rollout_id varchar(26)   NOT NULL,
    client_id  varchar(128)  NOT NULL,
    message    varchar(1024),
    at         timestamptz   NOT NULL,
    PRIMARY KEY (rollout_id, client_id)
);

-- Which client was last seen holding which version, through which instance (written in
-- batches by every instance: at least every 5 seconds, never a round trip per request).
CREATE TABLE client_sightings (
    configuration_id varchar(26)   NOT NULL,
    client_id        varchar(128)  NOT NULL,
    version          integer       NOT NULL,
    last_seen        timestamptz   NOT NULL,
    via_instance     varchar(26)   NOT NULL,
    PRIMARY KEY (configuration_id, client_id)
);
CREATE INDEX client_sightings_last_seen_idx ON client_sightings (configuration_id, last_seen);
