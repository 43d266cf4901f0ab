"""Create and revoke API tokens. A secret is made here, shown once (in the result), and
stored only as its SHA-256."""

import hashlib
import secrets
from dataclasses import dataclass, field

from commands.errors import Conflict, InvalidCommand, NotFound
from infra.ids import new_id
from infra.writes import SqlError, Statement

SCOPES = ("read", "write", "admin")
SECRET_PREFIX = "cfs_"


def new_secret() -> str:
    """256 random bits, with a prefix that makes a leaked secret easy to recognise."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class CreateToken:
    name: str
    scope: str
    applications: tuple[str, ...] | None = None  # names of the applications it is limited to
    id: str = field(default_factory=new_id)
    secret: str = field(default_factory=new_secret, repr=False)


@dataclass(frozen=True)
class RevokeToken:
    """Revokes the active token with this id, or this name."""

    id: str | None = None
    name: str | None = None


TOKEN_JSON = """jsonb_build_object(
    'id', t.id, 'name', t.name, 'scope', t.scope, 'created_at', t.created_at,
    'applications', (SELECT jsonb_agg(a.name ORDER BY a.name) FROM applications a WHERE a.id = ANY(t.applications))
)"""

INSERT_TOKEN = f"""
WITH wanted AS (
    SELECT DISTINCT unnest(%(applications)s::text[]) AS name
), found AS (
    SELECT w.name, a.id FROM wanted w LEFT JOIN applications a ON a.name = w.name
), t AS (
    INSERT INTO tokens (id, name, scope, applications, secret_hash)
    SELECT %(id)s, %(name)s, %(scope)s,
           CASE WHEN %(applications)s::text[] IS NULL THEN NULL
                ELSE ARRAY(SELECT id FROM found ORDER BY id) END,
           %(secret_hash)s
    WHERE NOT EXISTS (SELECT 1 FROM found WHERE id IS NULL)
    RETURNING *
)
SELECT jsonb_build_object(
    'row', (SELECT {TOKEN_JSON} FROM t),
    'unknown', (SELECT jsonb_agg(name ORDER BY name) FROM found WHERE id IS NULL)
)
"""

REVOKE_TOKEN = """
UPDATE tokens t SET revoked_at = clock_timestamp()
WHERE revoked_at IS NULL AND (t.id = %(id)s OR t.name = %(name)s)
RETURNING jsonb_build_object('id', t.id, 'name', t.name)
"""


def create_token(cmd: CreateToken) -> Statement:
    if cmd.scope not in SCOPES:
        raise InvalidCommand("scope", f"must be one of {', '.join(SCOPES)}")
    params = {
        "id": cmd.id,
        "name": cmd.name,
        "scope": cmd.scope,
        "applications": None if cmd.applications is None else list(cmd.applications),
        "secret_hash": secret_hash(cmd.secret),
    }

    def outcome(value: dict) -> dict:
        if value["row"] is None:
            unknown = ", ".join(repr(name) for name in value["unknown"])
            raise InvalidCommand("applications", f"no application named {unknown}")
        return {**value["row"], "secret": cmd.secret}

    def on_error(error: SqlError) -> Exception | None:
        if error.code == "23505" and error.constraint == "tokens_active_name_key":
            return Conflict(f"a token named {cmd.name!r} already exists; revoke it first, or choose another name")
        return None

    return Statement(INSERT_TOKEN, params, outcome, on_error=on_error)


def revoke_token(cmd: RevokeToken) -> Statement:
    def outcome(value: dict | None) -> dict:
        if value is None:
            which = f"named {cmd.name!r}" if cmd.name is not None else cmd.id
            raise NotFound(f"no active token {which}")
        return value

    return Statement(REVOKE_TOKEN, {"id": cmd.id, "name": cmd.name}, outcome)
