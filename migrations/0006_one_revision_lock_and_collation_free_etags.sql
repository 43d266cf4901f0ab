-- One place for the revision lock's key (infra/locks.py names every key the service takes),
-- and an application ETag whose id order does not depend on the database's collation, so
-- that the read side can compute the same one from memory (queries/views.py).

-- Held by every change until its commit: revisions become visible in commit order.
CREATE FUNCTION lock_revisions() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7201164812)
$$;

CREATE OR REPLACE FUNCTION next_revision() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    -- Re-entrant: after the first change of a transaction this is a local lookup.
    PERFORM lock_revisions();
    RETURN nextval('revisions');
END
$$;

CREATE OR REPLACE FUNCTION application_etag(app_id varchar, app_revision bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT app_revision || '-' || left(md5(coalesce(string_agg(c.id, ',' ORDER BY c.id COLLATE "C"), '')), 12)
    FROM configurations c
    WHERE c.application_id = app_id
$$;

CREATE OR REPLACE FUNCTION run_commands(statements text[], actors text[], request_ids text[], actions text[])
RETURNS TABLE (ordinal integer, outcome jsonb, error_code text, error_constraint text, error_message text)
LANGUAGE plpgsql AS $$
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
$$;
