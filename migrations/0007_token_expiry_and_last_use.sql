-- Tokens may expire (expires_at; NULL: never), and each records when it was last used
-- (last_used_at; NULL: never), written by the instances at most once a minute per token.

ALTER TABLE tokens
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;

-- Recording a use is bookkeeping, not a change of the token: only a change of what an instance
-- holds of a token is announced (else every instance would read its tokens again each minute).
DROP TRIGGER tokens_announce ON tokens;

CREATE TRIGGER tokens_announce
AFTER INSERT OR DELETE OR UPDATE OF id, name, scope, applications, secret_hash, revoked_at, expires_at ON tokens
FOR EACH ROW EXECUTE FUNCTION announce_token_change();
