"""API tokens as readers see them: the list (never a secret), and the active ones held in
memory by their secret's hash, so that checking a token, and whether it has expired, costs no
database round trip."""

import logging
import threading
import time
from typing import NamedTuple

from psycopg2.extensions import cursor as Cursor
from pydantic import BaseModel, ConfigDict, Field

from infra.access import Among, Scope, secret_hash
from infra.database import Database
from infra.events import Committed
from infra.timestamps import Timestamp

TOKEN_VIEWS = """
SELECT t.id, t.name, t.scope, t.reveal, t.created_at, t.expires_at, t.last_used_at,
       CASE WHEN t.applications IS NULL THEN NULL
            ELSE ARRAY(SELECT a.name FROM applications a WHERE a.id = ANY(t.applications) ORDER BY a.name) END
           AS applications
FROM tokens t
WHERE t.revoked_at IS NULL
ORDER BY t.name
"""

log = logging.getLogger(__name__)

# A reading of the tokens that failed is tried again after this long, doubling up to the most.
RELOAD_RETRY_FIRST = 0.05
RELOAD_RETRY_MOST = 0.5

ACTIVE_TOKENS = """
SELECT id, name, scope, applications, secret_hash, extract(epoch FROM expires_at)::float8 AS expires_at, reveal
FROM tokens WHERE revoked_at IS NULL
"""


class TokenView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    scope: Scope
    reveal: bool = Field(False, description='Whether it may see secret values (else they show as "********")')
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
    reveal: bool = False  # may see secret values


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
            row["reveal"],
        )
        for row in cur.fetchall()
    }


class TokenTable:
    """The active tokens, replaced whole whenever they change. A lookup hashes the secret and
    finds the hash: nothing compares secrets, so nothing can leak them through timing. Lookups
    take no lock; changes (from the event loop, and from TokenReload's thread) take one."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Token] = {}
        self._changing = threading.Lock()

    def replace(self, tokens: dict[str, Token]) -> None:
        with self._changing:
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
            tokens[row["secret_hash"]] = Token(
                row["name"], row["scope"], applications, row["id"], row["expires_epoch"], row["reveal"]
            )
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


class TokenReload:
    """Reads the active tokens again when a token changed somewhere, and puts them in force,
    all in the database's upkeep lane (its own thread and connection): a revoked token must
    stop working on every instance within a second, and neither the queue requests wait in
    nor an event loop that a flood keeps busy may delay that. A reading that fails is tried
    again until it works; one at a time, the last one after the last change."""

    def __init__(self, db: Database, tokens: TokenTable) -> None:
        self._db = db
        self._tokens = tokens
        self._state = threading.Lock()
        self._running = False
        self._again = False
        self._stopping = threading.Event()

    def request(self) -> None:
        """From any thread (the listener's hears of token changes first)."""
        with self._state:
            if self._running:
                self._again = True
                return
            self._running = True
        self._db.upkeep_in_thread(self._reload)

    def stop(self) -> None:
        self._stopping.set()

    def _reload(self) -> None:
        delay, failing_since = RELOAD_RETRY_FIRST, None
        while not self._stopping.is_set():
            with self._state:
                self._again = False
            try:
                tokens = self._db.run_query(active_tokens)
            except Exception as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("could not read the tokens again (%s); trying until it works", _first_line(exc))
                self._stopping.wait(delay)
                delay = min(2 * delay, RELOAD_RETRY_MOST)
                continue
            self._tokens.replace(tokens)
            if failing_since is not None:
                log.info("read the tokens again, after %.1fs of trying", time.monotonic() - failing_since)
                delay, failing_since = RELOAD_RETRY_FIRST, None
            with self._state:
                if not self._again:
                    self._running = False
                    return
        with self._state:
            self._running = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
