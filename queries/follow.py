"""Everything that follows the changes: the read model, the change feed's tail and the active
tokens. Every change reaches them through `apply`, whether this instance committed it (the
command bus hands over its event: `committed`) or the database announced it (the listener
hands over its payloads: `announced`). Callbacks run on the event loop thread, except
`catch_up` and `heard`, which run in the listener's thread.

Announcements are applied in order, at most ANNOUNCEMENTS_PER_TURN in one turn of the event
loop: a burst (100,000 rows changed by one statement in psql) is applied over many turns, with
requests served between them, instead of holding the loop for seconds.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from psycopg2.extensions import connection as Connection

from infra.database import Database
from infra.events import Committed
from infra.keyring import Keyring
from infra.peers import Peers
from infra.replicas import Replicas
from queries.announcements import KEYS_ANNOUNCEMENT, TOKEN_ANNOUNCEMENT, committed_of, parse_announcements
from queries.feed import ChangeFeed
from queries.held import HeldRequests
from queries.read_model import ReadModel
from queries.snapshot import Gap, Snapshot
from queries.sources import ReadSources
from queries.tokens import TokenReload, TokenTable

log = logging.getLogger(__name__)

# Each announcement is parsed, noted in the feed and applied: a few hundred a turn keeps a turn
# of the loop short (measured: 90,000 applications inserted in one statement held requests
# up to 2.2 s when applied in the turns they came in, 0.25 s with 500 a turn).
ANNOUNCEMENTS_PER_TURN = 500


class ReadSide:
    def __init__(
        self,
        db: Database,
        max_bytes: int,
        tokens: TokenTable,
        held: HeldRequests | None = None,
        peers: Peers | None = None,
        replicas: Replicas | None = None,
        keyring: Keyring | None = None,
        on_keys: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._peers = peers  # the other workers of this service, if any (infra/peers.py)
        self._on_keys = on_keys  # a key was added to the secret keys: read them again
        self._written = 0  # the latest revision this instance's own writes committed
        held = held or HeldRequests()  # one bound for the watches and the feed's waits
        # Reads a replica may serve, once it shows what this instance has shown.
        self.sources = ReadSources(db, replicas, self.shown)
        self.reads = ReadModel(db, max_bytes, held, peers, self.sources, keyring)
        self.feed = ChangeFeed(db, held=held, peers=peers, sources=self.sources)
        self.tokens = tokens
        self._token_reload = TokenReload(db, tokens)
        self._heard: deque[str] = deque()  # announced, not applied yet, in order
        self._draining = False  # a turn of `_drain` is running or scheduled

    # -- what the listener hands over -----------------------------------------------------

    def heard(self, payloads: list[str]) -> None:
        """In the listener's thread, as soon as it hears them: a token changed somewhere, so
        the tokens are read again at once, without waiting for the event loop; the same for
        the secret keys after a rotation."""
        if any(payload.startswith(TOKEN_ANNOUNCEMENT) for payload in payloads):
            self.reload_tokens()
        if self._on_keys is not None and any(payload.startswith(KEYS_ANNOUNCEMENT) for payload in payloads):
            self._on_keys()

    def catch_up(self, conn: Connection) -> Snapshot | Gap:
        return self.reads.catch_up(conn)

    def listening(self, state: bool, caught_up: Snapshot | Gap | None) -> None:
        self._drain(everything=True)  # what was heard before, first
        if state:
            self.reads.resume(caught_up)
            self.feed.resume(caught_up)
            self.tokens.replace(caught_up.tokens)
        else:
            self.reads.pause()
            self.feed.pause()

    def announced(self, payloads: list[str]) -> None:
        """Heard: applied in the next turn of the loop (the listener hands over many small
        batches in a burst, each its own callback, all run in one turn: only kept here)."""
        self._heard.extend(payloads)
        if not self._draining:
            try:
                asyncio.get_running_loop().call_soon(self._drain)
                self._draining = True
            except RuntimeError:  # no loop runs (a test calling in directly): applied now
                self._drain(everything=True)

    def _drain(self, everything: bool = False) -> None:
        """Applies the next announcements heard (or all of them); the rest in the next turn."""
        self._draining = False
        count = len(self._heard) if everything else min(ANNOUNCEMENTS_PER_TURN, len(self._heard))
        if count:
            self._apply_announced([self._heard.popleft() for _ in range(count)])
        if self._heard and not self._draining:
            asyncio.get_running_loop().call_soon(self._drain)
            self._draining = True

    def _apply_announced(self, payloads: list[str]) -> None:
        announced = parse_announcements(payloads)
        if announced is None:
            self.reads.forget_views()
            self.reload_tokens()
            return
        self.feed.extend(announced.changes)
        self.apply([committed_of(change) for change in announced.changes], announced=True)
        # Token changes were handed to the reload as soon as they were heard (`heard`).

    # -- what the command bus hands over --------------------------------------------------

    def committed(self, event: Committed) -> None:
        """A change this instance committed: later reads here must show it, before its
        announcement comes; and so must reads through the other workers."""
        self.apply([event], announced=False)
        if event.revision is not None:
            self._written = max(self._written, event.revision)
            if self._peers is not None:
                self._peers.committed(event.revision)

    def shown(self) -> int:
        """The newest revision this instance has shown (followed) or written, or another of its
        workers has written: what a replica must show before it serves a read here."""
        newest = max(self.reads.revision or 0, self._written)
        return newest if self._peers is None else max(newest, self._peers.newest())

    # -- the one place ----------------------------------------------------------------------

    def apply(self, events: list[Committed], *, announced: bool) -> None:
        self.reads.apply(events, announced=announced)
        if announced:
            return  # the feed took the entries themselves; token changes are read again
        for event in events:
            if event.kind == "token":
                self.tokens.committed(event)
            elif event.revision is not None:  # a revision: the feed has it
                self.feed.written(event.revision)

    def reload_tokens(self) -> None:
        """Read the active tokens again, soon (queries/tokens.py: TokenReload)."""
        self._token_reload.request()

    def close(self) -> None:
        """The instance is stopping: no more reloads."""
        self._token_reload.stop()
