-- The schema after every migration, as migrations.schema() prints it. Do not edit: run
-- `pipenv run migrate snapshot` after adding a migration and commit the result with it.

-- sequences

CREATE SEQUENCE revisions AS bigint;

CREATE SEQUENCE secret_reseals_id_seq AS bigint;

-- tables

CREATE TABLE applications (
    id character varying(26) NOT NULL,
    name character varying(256) NOT NULL,
    comments character varying(1024),
    version integer NOT NULL,
    revision bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE changes (
    revision bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    actor text,
    request_id text,
    action text NOT NULL,
    kind text NOT NULL,
    id character varying(26) NOT NULL,
    application_id character varying(26) NOT NULL,
    name character varying(256) NOT NULL,
    version integer NOT NULL,
    configuration_id character varying(26),
    percent smallint,
    reason text
);

CREATE TABLE client_reports (
    configuration_id character varying(26) NOT NULL,
    client_id character varying(128) NOT NULL,
    version integer NOT NULL,
    ok boolean NOT NULL,
    message character varying(1024),
    at timestamp with time zone NOT NULL
);

CREATE TABLE client_sightings (
    configuration_id character varying(26) NOT NULL,
    client_id character varying(128) NOT NULL,
    version integer NOT NULL,
    last_seen timestamp with time zone NOT NULL,
    via_instance character varying(26) NOT NULL
);

CREATE TABLE configuration_schema_versions (
    configuration_id character varying(26) NOT NULL,
    version integer NOT NULL,
    revision bigint NOT NULL,
    application_id character varying(26) NOT NULL,
    schema json NOT NULL,
    draft text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    actor text
);

CREATE TABLE configuration_schemas (
    configuration_id character varying(26) NOT NULL,
    schema json NOT NULL,
    draft text NOT NULL,
    version integer NOT NULL,
    revision bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE configuration_versions (
    configuration_id character varying(26) NOT NULL,
    version integer NOT NULL,
    revision bigint NOT NULL,
    application_id character varying(26) NOT NULL,
    name character varying(256) NOT NULL,
    comments character varying(1024),
    config jsonb NOT NULL,
    created_at timestamp with time zone NOT NULL,
    actor text,
    document json NOT NULL,
    secrets text[] NOT NULL DEFAULT '{}'::text[]
);

CREATE TABLE configurations (
    id character varying(26) NOT NULL,
    application_id character varying(26) NOT NULL,
    name character varying(256) NOT NULL,
    comments character varying(1024),
    config jsonb NOT NULL,
    version integer NOT NULL,
    revision bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    document json NOT NULL,
    release text NOT NULL DEFAULT 'immediate'::text,
    live_version integer NOT NULL,
    secrets text[] NOT NULL DEFAULT '{}'::text[]
);

CREATE TABLE migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum character(64) NOT NULL,
    applied_at timestamp with time zone NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
);

CREATE TABLE rollout_failures (
    rollout_id character varying(26) NOT NULL,
    client_id character varying(128) NOT NULL,
    message character varying(1024),
    at timestamp with time zone NOT NULL
);

CREATE TABLE rollouts (
    id character varying(26) NOT NULL,
    configuration_id character varying(26) NOT NULL,
    application_id character varying(26) NOT NULL,
    from_version integer NOT NULL,
    to_version integer NOT NULL,
    steps smallint[] NOT NULL,
    step_seconds integer NOT NULL,
    max_failures integer NOT NULL,
    percent smallint NOT NULL,
    state text NOT NULL,
    failures integer NOT NULL DEFAULT 0,
    started_at timestamp with time zone NOT NULL,
    next_step_at timestamp with time zone,
    ended_at timestamp with time zone,
    reason text,
    revision bigint NOT NULL
);

CREATE TABLE secret_key_holders (
    instance_id character varying(26) NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    key_ids text[] NOT NULL,
    sealing_key text,
    seen_at timestamp with time zone NOT NULL
);

CREATE TABLE secret_reseals (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL DEFAULT clock_timestamp(),
    reason text NOT NULL,
    key_id text NOT NULL,
    configuration_id character varying(26),
    configurations integer NOT NULL,
    versions integer NOT NULL,
    actor text
);

CREATE TABLE tokens (
    id character varying(26) NOT NULL,
    name character varying(256) NOT NULL,
    scope text NOT NULL,
    applications character varying(26)[],
    secret_hash character(64) NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT clock_timestamp(),
    revoked_at timestamp with time zone,
    expires_at timestamp with time zone,
    last_used_at timestamp with time zone,
    reveal boolean NOT NULL DEFAULT false
);

-- constraints

ALTER TABLE applications ADD CONSTRAINT applications_id_check CHECK (((id)::text ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'::text));

ALTER TABLE applications ADD CONSTRAINT applications_name_check CHECK (((name)::text <> ''::text));

ALTER TABLE applications ADD CONSTRAINT applications_name_key UNIQUE (name);

ALTER TABLE applications ADD CONSTRAINT applications_pkey PRIMARY KEY (id);

ALTER TABLE changes ADD CONSTRAINT changes_action_check CHECK ((action = ANY (ARRAY['created'::text, 'updated'::text, 'deleted'::text, 'restored'::text, 'started'::text, 'step'::text, 'paused'::text, 'resumed'::text, 'rolled_back'::text, 'promoted'::text, 'completed'::text])));

ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK ((kind = ANY (ARRAY['application'::text, 'configuration'::text, 'schema'::text, 'rollout'::text])));

ALTER TABLE changes ADD CONSTRAINT changes_pkey PRIMARY KEY (revision);

ALTER TABLE client_reports ADD CONSTRAINT client_reports_pkey PRIMARY KEY (configuration_id, client_id);

ALTER TABLE client_sightings ADD CONSTRAINT client_sightings_pkey PRIMARY KEY (configuration_id, client_id);

ALTER TABLE configuration_schema_versions ADD CONSTRAINT configuration_schema_versions_pkey PRIMARY KEY (configuration_id, version);

ALTER TABLE configuration_schemas ADD CONSTRAINT configuration_schemas_configuration_id_fkey FOREIGN KEY (configuration_id) REFERENCES configurations(id) ON DELETE CASCADE;

ALTER TABLE configuration_schemas ADD CONSTRAINT configuration_schemas_draft_check CHECK ((draft = ANY (ARRAY['2020-12'::text, '2019-09'::text, 'draft-07'::text])));

ALTER TABLE configuration_schemas ADD CONSTRAINT configuration_schemas_pkey PRIMARY KEY (configuration_id);

ALTER TABLE configuration_schemas ADD CONSTRAINT configuration_schemas_schema_check CHECK ((json_typeof(schema) = 'object'::text));

ALTER TABLE configuration_versions ADD CONSTRAINT configuration_versions_pkey PRIMARY KEY (configuration_id, version);

ALTER TABLE configurations ADD CONSTRAINT configurations_application_id_fkey FOREIGN KEY (application_id) REFERENCES applications(id);

ALTER TABLE configurations ADD CONSTRAINT configurations_application_id_name_key UNIQUE (application_id, name);

ALTER TABLE configurations ADD CONSTRAINT configurations_config_check CHECK ((jsonb_typeof(config) = 'object'::text));

ALTER TABLE configurations ADD CONSTRAINT configurations_id_check CHECK (((id)::text ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'::text));

ALTER TABLE configurations ADD CONSTRAINT configurations_name_check CHECK (((name)::text <> ''::text));

ALTER TABLE configurations ADD CONSTRAINT configurations_pkey PRIMARY KEY (id);

ALTER TABLE configurations ADD CONSTRAINT configurations_release_check CHECK ((release = ANY (ARRAY['immediate'::text, 'staged'::text])));

ALTER TABLE migrations ADD CONSTRAINT migrations_pkey PRIMARY KEY (version);

ALTER TABLE rollout_failures ADD CONSTRAINT rollout_failures_pkey PRIMARY KEY (rollout_id, client_id);

ALTER TABLE rollouts ADD CONSTRAINT rollouts_id_check CHECK (((id)::text ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'::text));

ALTER TABLE rollouts ADD CONSTRAINT rollouts_max_failures_check CHECK ((max_failures >= 0));

ALTER TABLE rollouts ADD CONSTRAINT rollouts_percent_check CHECK (((percent >= 1) AND (percent <= 100)));

ALTER TABLE rollouts ADD CONSTRAINT rollouts_pkey PRIMARY KEY (id);

ALTER TABLE rollouts ADD CONSTRAINT rollouts_state_check CHECK ((state = ANY (ARRAY['running'::text, 'paused'::text, 'completed'::text, 'rolled_back'::text])));

ALTER TABLE rollouts ADD CONSTRAINT rollouts_step_seconds_check CHECK (((step_seconds >= 1) AND (step_seconds <= 86400)));

ALTER TABLE secret_key_holders ADD CONSTRAINT secret_key_holders_pkey PRIMARY KEY (instance_id);

ALTER TABLE secret_reseals ADD CONSTRAINT secret_reseals_pkey PRIMARY KEY (id);

ALTER TABLE secret_reseals ADD CONSTRAINT secret_reseals_reason_check CHECK ((reason = ANY (ARRAY['marked'::text, 'rotated'::text])));

ALTER TABLE tokens ADD CONSTRAINT tokens_id_check CHECK (((id)::text ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'::text));

ALTER TABLE tokens ADD CONSTRAINT tokens_name_check CHECK ((btrim((name)::text) <> ''::text));

ALTER TABLE tokens ADD CONSTRAINT tokens_pkey PRIMARY KEY (id);

ALTER TABLE tokens ADD CONSTRAINT tokens_scope_check CHECK ((scope = ANY (ARRAY['read'::text, 'write'::text, 'admin'::text])));

ALTER TABLE tokens ADD CONSTRAINT tokens_secret_hash_key UNIQUE (secret_hash);

-- indexes

CREATE INDEX changes_application_id_revision_idx ON public.changes USING btree (application_id, revision);

CREATE INDEX client_sightings_last_seen_idx ON public.client_sightings USING btree (configuration_id, last_seen);

CREATE INDEX configurations_application_id_idx ON public.configurations USING btree (application_id, id);

CREATE INDEX rollouts_configuration_idx ON public.rollouts USING btree (configuration_id, id DESC);

CREATE UNIQUE INDEX rollouts_active_key ON public.rollouts USING btree (configuration_id) WHERE (state = ANY (ARRAY['running'::text, 'paused'::text]));

CREATE UNIQUE INDEX tokens_active_name_key ON public.tokens USING btree (name) WHERE (revoked_at IS NULL);

-- functions

CREATE OR REPLACE FUNCTION public.announce_change(entry changes)
 RETURNS void
 LANGUAGE sql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.announce_token_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('config_changes', json_build_object('token', COALESCE(NEW.id, OLD.id))::text);
    RETURN NULL;
END
$function$
;

CREATE OR REPLACE FUNCTION public.application_etag(app_id character varying, app_revision bigint)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT app_revision || '-' || left(md5(coalesce(string_agg(c.id, ',' ORDER BY c.id COLLATE "C"), '')), 12)
    FROM configurations c
    WHERE c.application_id = app_id
$function$
;

CREATE OR REPLACE FUNCTION public.change_setting(name text)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT nullif(current_setting('config_service.' || name, true), '')
$function$
;

CREATE OR REPLACE FUNCTION public.configuration_schema_revision(of_configuration character varying)
 RETURNS bigint
 LANGUAGE sql
 STABLE
AS $function$
    SELECT coalesce((SELECT s.revision FROM configuration_schemas s WHERE s.configuration_id = of_configuration), 0)
$function$
;

CREATE OR REPLACE FUNCTION public.guard_configuration_versions()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF TG_OP = 'UPDATE' AND change_setting('resealing') = 'on'
       AND (NEW.configuration_id, NEW.version, NEW.revision, NEW.application_id, NEW.name, NEW.comments,
            NEW.created_at, NEW.actor)
           IS NOT DISTINCT FROM
           (OLD.configuration_id, OLD.version, OLD.revision, OLD.application_id, OLD.name, OLD.comments,
            OLD.created_at, OLD.actor) THEN
        NEW.config := NEW.document::jsonb;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$function$
;

CREATE OR REPLACE FUNCTION public.json_compact(text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE STRICT
AS $function$
    SELECT regexp_replace($1, '("(?:[^"\\]|\\.)*")|[ \t\n\r]+', '\1', 'g')
$function$
;

CREATE OR REPLACE FUNCTION public.json_merge_patch(target json, patch json)
 RETURNS json
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT CASE
        WHEN json_typeof(patch) IS DISTINCT FROM 'object' THEN patch
        ELSE (
            SELECT ('{' || coalesce(string_agg(to_json(m.key)::text || ':' || m.value::text, ',' ORDER BY m.added, m.position), '') || '}')::json
            FROM (
                SELECT false AS added, t.position, t.key,
                       CASE WHEN p.key IS NULL THEN t.value ELSE json_merge_patch(t.value, p.value) END AS value
                FROM json_each(CASE WHEN json_typeof(target) = 'object' THEN target ELSE '{}' END)
                     WITH ORDINALITY t (key, value, position)
                LEFT JOIN json_each(patch) p ON p.key = t.key
                WHERE p.key IS NULL OR json_typeof(p.value) <> 'null'
                UNION ALL
                SELECT true, p.position, p.key, json_merge_patch(NULL, p.value)
                FROM json_each(patch) WITH ORDINALITY p (key, value, position)
                WHERE json_typeof(p.value) <> 'null'
                  AND NOT EXISTS (
                      SELECT 1 FROM json_each(CASE WHEN json_typeof(target) = 'object' THEN target ELSE '{}' END) t
                      WHERE t.key = p.key
                  )
            ) m
        )
    END
$function$
;

CREATE OR REPLACE FUNCTION public.jsonb_merge_patch(target jsonb, patch jsonb)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.lock_revisions()
 RETURNS void
 LANGUAGE sql
AS $function$
    SELECT pg_advisory_xact_lock(7201164812)
$function$
;

CREATE OR REPLACE FUNCTION public.next_revision()
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- Re-entrant: after the first change of a transaction this is a local lookup.
    PERFORM lock_revisions();
    RETURN nextval('revisions');
END
$function$
;

CREATE OR REPLACE FUNCTION public.record_application_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.record_configuration_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    entry changes;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.id <> OLD.id OR NEW.application_id <> OLD.application_id) THEN
        RAISE EXCEPTION 'a configuration keeps its id and its application' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND change_setting('resealing') = 'on' THEN
        IF (NEW.name, NEW.comments, NEW.version, NEW.revision, NEW.created_at, NEW.updated_at, NEW.release,
            NEW.live_version, NEW.secrets)
           IS DISTINCT FROM
           (OLD.name, OLD.comments, OLD.version, OLD.revision, OLD.created_at, OLD.updated_at, OLD.release,
            OLD.live_version, OLD.secrets) THEN
            RAISE EXCEPTION 'resealing rewrites sealed values only' USING ERRCODE = 'check_violation';
        END IF;
        NEW.config := NEW.document::jsonb;
        RETURN NEW;
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
            (configuration_id, version, revision, application_id, name, comments, config, created_at, actor,
             document, secrets)
        VALUES
            (NEW.id, NEW.version, entry.revision, NEW.application_id, NEW.name, NEW.comments, NEW.config,
             entry.at, entry.actor, NEW.document, NEW.secrets);
        entry.id := NEW.id;
        entry.application_id := NEW.application_id;
        entry.name := NEW.name;
        entry.version := NEW.version;
    END IF;
    INSERT INTO changes VALUES (entry.*);
    PERFORM announce_change(entry);
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$function$
;

CREATE OR REPLACE FUNCTION public.record_rollout_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.record_schema_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.refuse_rewriting_history()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$function$
;

CREATE OR REPLACE FUNCTION public.refuse_unrecorded_truncate()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % is not recorded in the change feed: use DELETE', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$function$
;

CREATE OR REPLACE FUNCTION public.run_commands(statements text[], actors text[], request_ids text[], actions text[])
 RETURNS TABLE(ordinal integer, outcome jsonb, error_code text, error_constraint text, error_message text)
 LANGUAGE plpgsql
AS $function$
BEGIN
    -- The revision lock, once, first: commands of other transactions wait here, not midway.
    PERFORM lock_revisions();
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
$function$
;

-- triggers

CREATE TRIGGER applications_no_truncate BEFORE TRUNCATE ON public.applications FOR EACH STATEMENT EXECUTE FUNCTION refuse_unrecorded_truncate();

CREATE TRIGGER applications_record BEFORE INSERT OR DELETE OR UPDATE ON public.applications FOR EACH ROW EXECUTE FUNCTION record_application_change();

CREATE TRIGGER changes_append_only BEFORE DELETE OR UPDATE ON public.changes FOR EACH ROW EXECUTE FUNCTION refuse_rewriting_history();

CREATE TRIGGER changes_no_truncate BEFORE TRUNCATE ON public.changes FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();

CREATE TRIGGER configuration_schema_versions_append_only BEFORE DELETE OR UPDATE ON public.configuration_schema_versions FOR EACH ROW EXECUTE FUNCTION refuse_rewriting_history();

CREATE TRIGGER configuration_schema_versions_no_truncate BEFORE TRUNCATE ON public.configuration_schema_versions FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();

CREATE TRIGGER configuration_schemas_no_truncate BEFORE TRUNCATE ON public.configuration_schemas FOR EACH STATEMENT EXECUTE FUNCTION refuse_unrecorded_truncate();

CREATE TRIGGER configuration_schemas_record BEFORE INSERT OR DELETE OR UPDATE ON public.configuration_schemas FOR EACH ROW EXECUTE FUNCTION record_schema_change();

CREATE TRIGGER configuration_versions_append_only BEFORE DELETE OR UPDATE ON public.configuration_versions FOR EACH ROW EXECUTE FUNCTION guard_configuration_versions();

CREATE TRIGGER configuration_versions_no_truncate BEFORE TRUNCATE ON public.configuration_versions FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewriting_history();

CREATE TRIGGER configurations_no_truncate BEFORE TRUNCATE ON public.configurations FOR EACH STATEMENT EXECUTE FUNCTION refuse_unrecorded_truncate();

CREATE TRIGGER configurations_record BEFORE INSERT OR DELETE OR UPDATE ON public.configurations FOR EACH ROW EXECUTE FUNCTION record_configuration_change();

CREATE TRIGGER rollouts_no_delete BEFORE DELETE ON public.rollouts FOR EACH ROW EXECUTE FUNCTION refuse_rewriting_history();

CREATE TRIGGER rollouts_record BEFORE INSERT OR UPDATE ON public.rollouts FOR EACH ROW EXECUTE FUNCTION record_rollout_change();

CREATE TRIGGER tokens_announce AFTER INSERT OR DELETE OR UPDATE OF id, name, scope, applications, secret_hash, revoked_at, expires_at ON public.tokens FOR EACH ROW EXECUTE FUNCTION announce_token_change();
