-- Documents come back as they were written. `jsonb` keeps neither the order of keys nor the
-- form of numbers (1e2 becomes 100), so each configuration's document (and each version's) is
-- kept as `json` text too: `document`, compact, keys in the order written, numbers as written
-- (the service writes it: infra/documents.py). `config` (jsonb) stays, derived from it, for
-- SQL: the object check, operators' queries, indexes.
--
-- Whoever writes, the two agree: the recording trigger derives `config` from a new
-- `document`, and a `document` from a new `config` when only `config` was written (an
-- operator's psql, the benchmark's bulk load: that text is jsonb's, the best there is).
-- Existing rows get their jsonb's text, without the spaces between tokens.

-- JSON text without whitespace between its tokens (strings kept as they are).
CREATE FUNCTION json_compact(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT regexp_replace($1, '("(?:[^"\\]|\\.)*")|[ \t\n\r]+', '\1', 'g')
$$;

ALTER TABLE configurations ADD COLUMN document json;
ALTER TABLE configuration_versions ADD COLUMN document json;

-- Filling in is no change of anyone's: not recorded, and history is written this once.
ALTER TABLE configurations DISABLE TRIGGER configurations_record;
UPDATE configurations SET document = json_compact(config::text)::json;
ALTER TABLE configurations ENABLE TRIGGER configurations_record;
ALTER TABLE configuration_versions DISABLE TRIGGER configuration_versions_append_only;
UPDATE configuration_versions SET document = json_compact(config::text)::json;
ALTER TABLE configuration_versions ENABLE TRIGGER configuration_versions_append_only;

ALTER TABLE configurations ALTER COLUMN document SET NOT NULL;
ALTER TABLE configuration_versions ALTER COLUMN document SET NOT NULL;

-- As in 0003, and: `config` and `document` agree, and each version keeps its document.
CREATE OR REPLACE FUNCTION record_configuration_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry changes;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.id <> OLD.id OR NEW.application_id <> OLD.application_id) THEN
        RAISE EXCEPTION 'a configuration keeps its id and its application' USING ERRCODE = 'check_violation';
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
            entry.action := coalesce(change_setting('action'), 'created');
        ELSE
            NEW.version := OLD.version + 1;
            NEW.created_at := OLD.created_at;
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

-- RFC 7396 JSON Merge Patch on documents as written: the target's keys keep their order
-- (null removes one, objects merge, anything else replaces), new keys follow in the patch's
-- order; values are kept as written. The result is compact (both inputs are).
CREATE FUNCTION json_merge_patch(target json, patch json) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
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
$$;
