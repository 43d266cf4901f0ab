"""API tokens as readers see them: the list (never a secret), and the active ones held in
memory by their secret's hash, so that checking a token costs no database round trip."""

import hashlib
from typing import Literal, NamedTuple

from psycopg2.extensions import cursor as Cursor
from pydantic import BaseModel, ConfigDict, Field

from infra.timestamps import Timestamp

Scope = Literal["read", "write", "admin"]

TOKEN_VIEWS = """
SELECT t.id, t.name, t.scope, t.created_at,
       CASE WHEN t.applications IS NULL THEN NULL
            ELSE ARRAY(SELECT a.name FROM applications a WHERE a.id = ANY(t.applications) ORDER BY a.name) END
           AS applications
FROM tokens t
WHERE t.revoked_at IS NULL
ORDER BY t.name
"""

ACTIVE_TOKENS = """
SELECT id, name, scope, applications, secret_hash FROM tokens WHERE revoked_at IS NULL
"""


class TokenView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    scope: Scope
    applications: list[str] | None = Field(description="The applications it is limited to; null: every one")
    created_at: Timestamp


class Token(NamedTuple):
    """An active token as requests meet it (what api/auth.py calls a principal)."""

    name: str | None
    scope: Scope
    applications: frozenset[str] | None = None  # ids; None: every application
    token_id: str | None = None


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

    def find(self, secret: bytes) -> Token | None:
        return self._by_hash.get(hashlib.sha256(secret).hexdigest())

    def has_admin(self) -> bool:
        return any(t.scope == "admin" and t.applications is None for t in self._by_hash.values())

    def __len__(self) -> int:
        return len(self._by_hash)
