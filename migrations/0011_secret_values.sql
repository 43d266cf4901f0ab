-- Secret values. A configuration lists the JSON Pointers of its secret values (`secrets`), and
-- the service stores each of them sealed: a JSON string "$sealed:v1:<key id>:<nonce>:<ciphertext>"
-- (AES-256-GCM, infra/keyring.py), made before any statement is sent, so that neither the
-- tables, nor their dumps, nor the server's log of a failing statement hold the plaintext. The
-- keys are in a file (SECRETS_KEYS), never here. Each version records the pointers of its own
-- document, so its history is masked where its values are sealed.

ALTER TABLE configurations ADD COLUMN secrets text[] NOT NULL DEFAULT '{}';
ALTER TABLE configuration_versions ADD COLUMN secrets text[] NOT NULL DEFAULT '{}';

-- Tokens that may see secret values (granted by an admin; `reveal` in POST /tokens).
ALTER TABLE tokens ADD COLUMN reveal boolean NOT NULL DEFAULT false;

-- -- Resealing ----------------------------------------------------------------------------------
--
-- Two things rewrite sealed values without changing what they seal: marking a path secret
-- seals it in every earlier version of the configuration too, and a key rotation seals every
-- value again with the new key. Neither is a change of the configuration (no revision, no
-- version, no feed entry, no announcement: every view shows the same thing before and after),
-- yet configuration_versions is append-only. So a transaction that sets
-- `config_service.resealing = 'on'` (SET LOCAL: it ends with the transaction) may update
-- `document` (with `config` derived from it) and, in the history, `secrets`; nothing else,
-- and nothing without it. Each such transaction records itself in `secret_reseals`.

CREATE TABLE secret_reseals (
    id               bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz  NOT NULL DEFAULT clock_timestamp(),
    reason           text         NOT NULL CHECK (reason IN ('marked', 'rotated')),
    key_id           text         NOT NULL,  -- the key that sealed them
    configuration_id varchar(26),  -- a marking's configuration
    configurations   integer      NOT NULL,  -- current documents resealed
    versions         integer      NOT NULL,  -- versions resealed
    actor            text
);

CREATE FUNCTION guard_configuration_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
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
$$;

DROP TRIGGER configuration_versions_append_only ON configuration_versions;
CREATE TRIGGER configuration_versions_append_only
BEFORE UPDATE OR DELETE ON configuration_versions
FOR EACH ROW EXECUTE FUNCTION guard_configuration_versions();

-- The configuration's recording (as in 0010), and: each version records its secret pointers;
-- a resealing rewrites the document alone, unrecorded.
CREATE OR REPLACE FUNCTION record_configuration_change() RETURNS trigger
LANGUAGE plpgsql AS $$
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
$$;

-- -- Which keys each instance holds ------------------------------------------------------------
--
-- A rotation adds a key to the key file and announces it on the changes channel
-- ({"secrets_keys": "<key id>"}); every instance reads its file again and says here which keys
-- it holds, and how recently it was alive (every 15 seconds). `secrets rotate` seals values
-- with the new key only once every instance seen within the last minute holds it.

CREATE TABLE secret_key_holders (
    instance_id varchar(26)  PRIMARY KEY,
    host        text         NOT NULL,
    pid         integer      NOT NULL,
    key_ids     text[]       NOT NULL,
    sealing_key text,
    seen_at     timestamptz  NOT NULL
);
