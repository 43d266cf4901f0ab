"""Whether the database answers, as one background check per instance finds it: /health
answers from here, so that it costs no database round trip however often it is asked (a
flood of /health cannot fill the queue every read waits in), and its answer is at most
`every` seconds old. A change of state is logged once, not at every answer."""

import asyncio
import logging
import time

from infra.database import Database

log = logging.getLogger(__name__)


def _ping(cur) -> None:
    cur.execute("SELECT 1")


class DatabaseCheck:
    def __init__(self, db: Database, every: float = 0.5, no_answer_after: float = 3.0) -> None:
        self._db = db
        self._every = every
        self._no_answer_after = no_answer_after
        # None: the database answered the last check; else why it did not.
        self.failure: str | None = None
        self._failing_since = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            ping = asyncio.ensure_future(self._db.upkeep(_ping))
            done, _ = await asyncio.wait({ping}, timeout=self._no_answer_after)
            if not done:  # a server that vanished without a word: say so while waiting on
                self._found(f"no answer within {self._no_answer_after:.0f}s")
                await asyncio.wait({ping})
            try:
                ping.result()
            except Exception as exc:
                text = str(exc).strip()
                self._found(text.splitlines()[0] if text else type(exc).__name__)
            else:
                self._found(None)
            await asyncio.sleep(max(0.0, self._every - (loop.time() - started)))

    def _found(self, failure: str | None) -> None:
        if (failure is None) != (self.failure is None):
            if failure is None:
                log.info("database answers again, after %.1fs", time.monotonic() - self._failing_since)
            else:
                self._failing_since = time.monotonic()
                log.warning("database unavailable: %s", failure)
        self.failure = failure
