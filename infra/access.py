"""Who may do what, defined once: the token scopes and their order, a token's secret and how it
is stored, and the applications a limited token may touch.

The API enforces scopes (api/auth.py reads each route's declaration); the write side applies a
limit in every statement (commands/bus.py binds it as `%(applications)s`), the read side in
every view it hands out (`visible`).
"""

import hashlib
import secrets
from typing import Literal, get_args

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}

# The application ids a token is limited to; None: every application.
Among = frozenset[str] | None

SECRET_PREFIX = "cfs_"


def allows(held: str, needed: str) -> bool:
    """Whether a token of scope `held` may do what needs `needed` (admin > write > read)."""
    return _RANK[held] >= _RANK[needed]


def visible(among: Among, application_id: str | None) -> bool:
    """Whether a token limited to `among` may know of this application at all."""
    return among is None or application_id in among


def visible_sql(application_id: str) -> str:
    """The same rule in SQL, given the SQL expression of a row's application id; the limit is
    bound as `%(applications)s` (`among_param`)."""
    return f"(%(applications)s::text[] IS NULL OR {application_id} = ANY(%(applications)s::text[]))"


def among_param(among: Among) -> list[str] | None:
    return None if among is None else sorted(among)


def new_secret() -> str:
    """256 random bits, with a prefix that makes a leaked secret easy to recognise."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str | bytes) -> str:
    """How a secret is stored and looked up: its SHA-256, never the secret itself."""
    return hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).hexdigest()
