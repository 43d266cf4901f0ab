"""When each token was last used, as this instance sees it: every authenticated request notes
it in memory (one dictionary store, in api/auth.py), and a background task writes what was
noted, for every token at once, at most every `every` seconds, on the database's upkeep lane:
never a round trip per request, and never behind a queue of requests."""

import asyncio
import contextlib
import logging

from commands.tokens import record_token_use
from infra.database import Database

log = logging.getLogger("api")

# How often what was noted is written: `last_used_at` is at most this many seconds behind.
FLUSH_EVERY = 60.0


class TokenUses:
    def __init__(self) -> None:
        # token id -> when (seconds since the epoch) it was last used, since the last write.
        self.noted: dict[str, float] = {}
        self._task: asyncio.Task | None = None

    def last_used(self, token_id: str) -> float | None:
        """A use noted here and not written yet."""
        return self.noted.get(token_id)

    def start(self, db: Database, every: float = FLUSH_EVERY) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(db, every))

    async def stop(self, db: Database, timeout: float = 5.0) -> None:
        """The last uses are written before the instance goes (if the database answers soon)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(db), timeout)

    async def _run(self, db: Database, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.flush(db)

    async def flush(self, db: Database) -> None:
        uses, self.noted = self.noted, {}
        if not uses:
            return
        try:
            await db.upkeep(record_token_use, uses)
        except BaseException as exc:
            # Kept for the next time (also when stopping meanwhile), unless a later use was noted.
            self.noted = {**uses, **self.noted}
            if not isinstance(exc, Exception):
                raise
            log.warning("could not record when %d tokens were last used: %s", len(uses), str(exc).strip()[:200])
