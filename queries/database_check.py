"""The primary, checked in the background: one small query a second (its latest committed
revision), so that readiness and the metrics cost no request a database round trip."""

import asyncio
import contextlib
import logging
import time

from infra.database import Database, DatabaseUnavailable, Overloaded
from queries.changes import latest_revision

log = logging.getLogger(__name__)

INTERVAL = 1.0
# A result older than this says nothing: the check itself is stuck (a silent server).
FRESH_FOR = 3.0


class DatabaseCheck:
    def __init__(self, db: Database, interval: float = INTERVAL) -> None:
        self._db = db
        self._interval = interval
        self.revision: int | None = None  # the database's latest committed revision, as last seen
        self.ok_at: float | None = None  # time.monotonic() of the last success
        self.error: Exception | None = None  # why the last check failed; None after a success
        self._task: asyncio.Task | None = None

    @property
    def reachable(self) -> bool:
        return self.error is None and self.ok_at is not None and time.monotonic() - self.ok_at <= FRESH_FOR

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check(self) -> None:
        try:
            self.revision = await self._db.query(latest_revision)
        except (DatabaseUnavailable, Overloaded) as exc:
            self.error = exc
        else:
            self.error = None
            self.ok_at = time.monotonic()

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a bug must not end the checks for good
                log.exception("checking the database failed")
            await asyncio.sleep(self._interval)
