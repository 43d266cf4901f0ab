"""API tokens as readers see them: the list (never a secret), and the active ones held in
memory by their secret's hash, so that checking a token, and whether it has expired, costs no
database round trip."""

import time
from typing import NamedTuple

from psycopg2.extensions import cursor as Cursor
from pydantic import BaseModel, ConfigDict, Field

from infra.access import Among, Scope, secret_hash
from infra.events import Committed
from infra.timestamps import Timestamp

TOKEN_VIEWS = """
SELECT t.id, t.name, t.scope, t.created_at, t.expires_at, t.last_used_at,
       CASE WHEN t.applications IS NULL THEN NULL
            ELSE ARRAY(SELECT a.name FROM applications a WHERE a.id = ANY(t.applications) ORDER BY a.name) END
           AS applications
FROM tokens t
WHERE t.revoked_at IS NULL
ORDER BY t.name
"""

ACTIVE_TOKENS = """
SELECT id, name, scope, applications, secret_hash, extract(epoch FROM expires_at)::float8 AS expires_at
FROM tokens WHERE revoked_at IS NULL
"""


class TokenView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    scope: Scope
    applications: list[str] | None = Field(description="The applications it is limited to; null: every one")
    created_at: Timestamp
    expires_at: Timestamp | None = Field(description="When it stops being accepted; null: never")
    last_used_at: Timestamp | None = Field(
        description="When a request last used it (recorded at most once a minute); null: never"
    )


class Token(NamedTuple):
    """An active token as requests meet it (what api/auth.py calls a principal)."""

    name: str | None
    scope: Scope
    applications: Among = None  # ids; None: every application
    token_id: str | None = None
    expires_at: float | None = None  # seconds since the epoch; None: never


def list_tokens(cur: Cursor) -> list[TokenView]:
    cur.execute(TOKEN_VIEWS)
    return [TokenView(**row) for row in cur.fetchall()]


def active_tokens(cur: Cursor) -> dict[str, Token]:
    """The active tokens by their secret's hash."""
    cur.execute(ACTIVE_TOKENS)
    return {
        row["secret_hash"]: Token(
            row["name"],
            row["scope"],
            None if row["applications"] is None else frozenset(row["applications"]),
            row["id"],
            row["expires_at"],
        )
        for row in cur.fetchall()
    }


class TokenTable:
    """The active tokens, replaced whole whenever they change. A lookup hashes the secret and
    finds the hash: nothing compares secrets, so nothing can leak them through timing."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Token] = {}

    def replace(self, tokens: dict[str, Token]) -> None:
        self._by_hash = tokens

    def committed(self, event: Committed) -> None:
        """A token this instance made or revoked: in force here at once (the announcement
        brings it to the other instances)."""
        row = event.row
        tokens = dict(self._by_hash)
        if event.removed:
            tokens.pop(row["secret_hash"], None)
        else:
            applications = None if row["application_ids"] is None else frozenset(row["application_ids"])
            tokens[row["secret_hash"]] = Token(row["name"], row["scope"], applications, row["id"], row["expires_epoch"])
        self._by_hash = tokens

    def find(self, secret: bytes) -> Token | None:
        return self._by_hash.get(secret_hash(secret))

    def has_admin(self) -> bool:
        now = time.time()
        return any(
            t.scope == "admin" and t.applications is None and (t.expires_at is None or t.expires_at > now)
            for t in self._by_hash.values()
        )

    def __len__(self) -> int:
        return len(self._by_hash)
