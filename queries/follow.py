"""Everything that follows the changes: the read model, the change feed's tail and the active
tokens. Every change reaches them through `apply`, whether this instance committed it (the
command bus hands over its event: `committed`) or the database announced it (the listener
hands over its payloads: `announced`). Callbacks run on the event loop thread, except
`catch_up`, which runs in the listener's thread.
"""

import asyncio
import logging
import time

from psycopg2.extensions import connection as Connection

from infra.database import Database
from infra.events import Committed
from queries.announcements import committed_of, parse_announcements
from queries.feed import ChangeFeed
from queries.held import HeldRequests
from queries.read_model import ReadModel
from queries.snapshot import Gap, Snapshot
from queries.tokens import TokenTable, active_tokens

log = logging.getLogger(__name__)

# A token reload that failed is tried again after this long, doubling up to the most.
RELOAD_RETRY_FIRST = 0.05
RELOAD_RETRY_MOST = 0.5


class ReadSide:
    def __init__(self, db: Database, max_bytes: int, tokens: TokenTable, held: HeldRequests | None = None) -> None:
        self._db = db
        held = held or HeldRequests()  # one bound for the watches and the feed's waits
        self.reads = ReadModel(db, max_bytes, held)
        self.feed = ChangeFeed(db, held=held)
        self.tokens = tokens
        self._token_reload: asyncio.Task | None = None
        self._reload_again = False

    # -- what the listener hands over -----------------------------------------------------

    def catch_up(self, conn: Connection) -> Snapshot | Gap:
        return self.reads.catch_up(conn)

    def listening(self, state: bool, caught_up: Snapshot | Gap | None) -> None:
        if state:
            self.reads.resume(caught_up)
            self.feed.resume(caught_up)
            self.tokens.replace(caught_up.tokens)
        else:
            self.reads.pause()
            self.feed.pause()

    def announced(self, payloads: list[str]) -> None:
        announced = parse_announcements(payloads)
        if announced is None:
            self.reads.forget_views()
            self.reload_tokens()
            return
        self.feed.extend(announced.changes)
        self.apply([committed_of(change) for change in announced.changes], announced=True)
        if announced.tokens_changed:
            self.reload_tokens()

    # -- what the command bus hands over --------------------------------------------------

    def committed(self, event: Committed) -> None:
        """A change this instance committed: later reads here must show it, before its
        announcement comes."""
        self.apply([event], announced=False)

    # -- the one place ----------------------------------------------------------------------

    def apply(self, events: list[Committed], *, announced: bool) -> None:
        self.reads.apply(events, announced=announced)
        if announced:
            return  # the feed took the entries themselves; token changes are read again
        for event in events:
            if event.kind == "token":
                self.tokens.committed(event)
            else:
                self.feed.written(event.revision)

    def reload_tokens(self) -> None:
        """Read the active tokens again, soon; one reload at a time, the last one after the
        last change. A revoked token must stop working on every instance: the reload runs on
        the database's upkeep lane, which requests cannot fill, and is tried until it works."""
        if self._token_reload is not None and not self._token_reload.done():
            self._reload_again = True
            return
        self._token_reload = asyncio.get_running_loop().create_task(self._reload_tokens())

    async def _reload_tokens(self) -> None:
        delay = RELOAD_RETRY_FIRST
        failing_since = None
        while True:
            self._reload_again = False
            try:
                tokens = await self._db.upkeep(active_tokens)
            except Exception as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("could not read the tokens again (%s); trying until it works", _first_line(exc))
                await asyncio.sleep(delay)
                delay = min(2 * delay, RELOAD_RETRY_MOST)
                continue
            self.tokens.replace(tokens)
            if failing_since is not None:
                log.info("read the tokens again, after %.1fs of trying", time.monotonic() - failing_since)
                failing_since, delay = None, RELOAD_RETRY_FIRST
            if not self._reload_again:
                return

    async def close(self) -> None:
        """The instance is stopping: no more reloads."""
        if self._token_reload is not None:
            self._token_reload.cancel()
            await asyncio.gather(self._token_reload, return_exceptions=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
