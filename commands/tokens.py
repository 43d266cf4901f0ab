"""Create and revoke API tokens. A secret is made here, shown once (in the committed row),
and stored only as its hash (infra/access.py). Also the bookkeeping of when tokens were last
used, which is not a change (no revision, no announcement)."""

from dataclasses import dataclass, field

from psycopg2.extensions import cursor as Cursor

from commands.bus import handles
from commands.errors import Conflict, InvalidCommand, NotFound
from infra.access import SCOPES, new_secret, secret_hash
from infra.events import Committed
from infra.ids import new_id
from infra.writes import SqlError, Statement


@dataclass(frozen=True)
class CreateToken:
    name: str
    scope: str
    applications: tuple[str, ...] | None = None  # names of the applications it is limited to
    expires_in_days: int | None = None  # None: it never expires
    reveal: bool = False  # may see secret values
    id: str = field(default_factory=new_id)
    secret: str = field(default_factory=new_secret, repr=False)


@dataclass(frozen=True)
class RevokeToken:
    """Revokes the active token with this id, or this name."""

    id: str | None = None
    name: str | None = None


# With the application ids and the secret's hash: what an instance needs to accept the token.
TOKEN_JSON = """jsonb_build_object(
    'id', t.id, 'name', t.name, 'scope', t.scope, 'reveal', t.reveal, 'created_at', t.created_at,
    'applications', (SELECT jsonb_agg(a.name ORDER BY a.name) FROM applications a WHERE a.id = ANY(t.applications)),
    'expires_at', t.expires_at, 'last_used_at', t.last_used_at,
    'application_ids', t.applications, 'secret_hash', t.secret_hash,
    'expires_epoch', extract(epoch FROM t.expires_at)::float8
)"""

INSERT_TOKEN = f"""
WITH wanted AS (
    SELECT DISTINCT unnest(%(limited_to)s::text[]) AS name
), found AS (
    SELECT w.name, a.id FROM wanted w LEFT JOIN applications a ON a.name = w.name
), t AS (
    INSERT INTO tokens (id, name, scope, applications, secret_hash, expires_at, reveal)
    SELECT %(id)s, %(name)s, %(scope)s,
           CASE WHEN %(limited_to)s::text[] IS NULL THEN NULL
                ELSE ARRAY(SELECT id FROM found ORDER BY id) END,
           %(secret_hash)s,
           clock_timestamp() + make_interval(days => %(expires_in_days)s::integer),
           %(reveal)s
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
RETURNING jsonb_build_object('id', t.id, 'name', t.name, 'secret_hash', t.secret_hash)
"""


# Every token used since the last time, in one statement; a later use another instance
# recorded already is kept.
RECORD_TOKEN_USE = """
UPDATE tokens t SET last_used_at = to_timestamp(u.at)
FROM unnest(%(ids)s::text[], %(ats)s::float8[]) AS u(id, at)
WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < to_timestamp(u.at))
"""

MAX_EXPIRES_IN_DAYS = 3650


@handles(CreateToken)
def create_token(cmd: CreateToken) -> Statement:
    if cmd.scope not in SCOPES:
        raise InvalidCommand("scope", f"must be one of {', '.join(SCOPES)}")
    if cmd.expires_in_days is not None and not 1 <= cmd.expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise InvalidCommand("expires_in_days", f"must be a number of days from 1 to {MAX_EXPIRES_IN_DAYS}")
    params = {
        "id": cmd.id,
        "name": cmd.name,
        "scope": cmd.scope,
        "limited_to": None if cmd.applications is None else list(cmd.applications),
        "secret_hash": secret_hash(cmd.secret),
        "expires_in_days": cmd.expires_in_days,
        "reveal": cmd.reveal,
    }

    def outcome(value: dict) -> Committed:
        if value["row"] is None:
            unknown = ", ".join(repr(name) for name in value["unknown"])
            raise InvalidCommand("applications", f"no application named {unknown}")
        return Committed(None, "token", "created", cmd.id, None, cmd.name, {**value["row"], "secret": cmd.secret})

    def on_error(error: SqlError) -> Exception | None:
        if error.code == "23505" and error.constraint == "tokens_active_name_key":
            return Conflict(f"a token named {cmd.name!r} already exists; revoke it first, or choose another name")
        return None

    return Statement(INSERT_TOKEN, params, outcome, on_error=on_error)


@handles(RevokeToken)
def revoke_token(cmd: RevokeToken) -> Statement:
    def outcome(value: dict | None) -> Committed:
        if value is None:
            which = f"named {cmd.name!r}" if cmd.name is not None else cmd.id
            raise NotFound(f"no active token {which}")
        return Committed(None, "token", "revoked", value["id"], None, value["name"], value)

    return Statement(REVOKE_TOKEN, {"id": cmd.id, "name": cmd.name}, outcome)


def record_token_use(cur: Cursor, uses: dict[str, float]) -> None:
    """When each token in `uses` (id -> seconds since the epoch) was last used."""
    ids = list(uses)
    cur.execute(RECORD_TOKEN_USE, {"ids": ids, "ats": [uses[id] for id in ids]})
