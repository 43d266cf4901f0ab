"""Everything that follows the changes: the read model, the change feed's tail and the active
tokens. Every change reaches them through `apply`, whether this instance committed it (the
command bus hands over its event: `committed`) or the database announced it (the listener
hands over its payloads: `announced`). Callbacks run on the event loop thread, except
`catch_up`, which runs in the listener's thread.
"""

import asyncio
import logging

from psycopg2.extensions import connection as Connection

from infra.database import Database
from infra.events import Committed
from queries.announcements import committed_of, parse_announcements
from queries.feed import ChangeFeed
from queries.read_model import ReadModel
from queries.snapshot import Gap, Snapshot
from queries.tokens import TokenTable, active_tokens

log = logging.getLogger(__name__)


class ReadSide:
    def __init__(self, db: Database, max_bytes: int, tokens: TokenTable) -> None:
        self._db = db
        self.reads = ReadModel(db, max_bytes)
        self.feed = ChangeFeed(db)
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
            elif event.revision is not None:  # a revision: the feed has it
                self.feed.written(event.revision)

    def reload_tokens(self) -> None:
        """Read the active tokens again, soon; one reload at a time, the last one after the
        last change."""
        if self._token_reload is not None and not self._token_reload.done():
            self._reload_again = True
            return
        self._token_reload = asyncio.get_running_loop().create_task(self._reload_tokens())

    async def _reload_tokens(self) -> None:
        while True:
            self._reload_again = False
            try:
                self.tokens.replace(await self._db.query(active_tokens))
            except Exception:
                # The listener's catch-up reads them again once the database is back.
                log.warning("could not read the tokens again", exc_info=True)
            if not self._reload_again:
                return
