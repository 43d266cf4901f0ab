-- API tokens. A secret is stored only as its SHA-256 (hex); a token may be limited to some
-- applications (their ids; NULL: every application). Revoked tokens stay, for the record;
-- names are unique among active ones, so a revoked token's name may be given again.

CREATE TABLE tokens (
    id           varchar(26)   PRIMARY KEY CHECK (id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'),
    name         varchar(256)  NOT NULL CHECK (btrim(name) <> ''),
    scope        text          NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    applications varchar(26)[],
    secret_hash  char(64)      NOT NULL UNIQUE,
    created_at   timestamptz   NOT NULL DEFAULT clock_timestamp(),
    revoked_at   timestamptz
);

CREATE UNIQUE INDEX tokens_active_name_key ON tokens (name) WHERE revoked_at IS NULL;

-- Every instance holds the active tokens in memory; a change to them is announced on the
-- channel the instances already follow, as {"token": "<id>"}.
CREATE FUNCTION announce_token_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('config_changes', json_build_object('token', COALESCE(NEW.id, OLD.id))::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_announce
AFTER INSERT OR UPDATE OR DELETE ON tokens
FOR EACH ROW EXECUTE FUNCTION announce_token_change();
