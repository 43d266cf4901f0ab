"""What follows the database's announcements, wired to the listener: the read model, the
change feed's tail, and the active tokens. Callbacks run on the event loop thread, except
`catch_up`, which runs in the listener's thread."""

import asyncio
import logging

from psycopg2.extensions import connection as Connection

from infra.database import Database
from queries.announcements import parse_announcements
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
        self.reads.apply(announced.changes)
        self.feed.extend(announced.changes)
        if announced.tokens_changed:
            self.reload_tokens()

    async def refresh_tokens(self) -> None:
        """Read the active tokens again now (after a token was made or revoked here)."""
        self.tokens.replace(await self._db.query(active_tokens))

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
