"""How far one read replica has got, as a background check finds it (like infra/health.py for
the primary): the latest revision it shows, whether it answers, and how far it lags.

The check is a thread with a connection of its own (infra/polling.py), asking the replica for
its latest revision every `every` seconds; a read that needs a newer revision than the check
last saw (`reached`) wakes it, and while such reads wait it asks every WHILE_WAITED seconds, so
that a read right after a write waits about as long as the replica takes to replay it, and
never makes a round trip of its own to find out. The waiting reads are futures on the event loop, woken by the
thread (`call_soon_threadsafe`).

Lag is measured against the primary's latest revision as its own check last read it
(`primary_revision`), read before each question to the replica: a replica that shows it is
caught up (lag 0); one that does not lags by the revisions it lacks, and by the seconds since
it last was caught up (within the checks' period). A replica's clock plays no part, and an
idle primary does not look like a lagging replica. A replica that does not answer, or lags by
more than `max_lag` seconds, is skipped (`in_use` is False) until a check finds it well again.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from infra.polling import PollingCheck

log = logging.getLogger("infra.replicas")

# How the checking connection shows in pg_stat_activity.
REPLICA_CHECK_APPLICATION_NAME = "config-service-replica-check"
# Its question: an index's last entry, and whether the server is a standby still.
PROBE = "SELECT coalesce(max(revision), 0), pg_is_in_recovery() FROM changes"
NOT_CHECKED = "not checked yet"
# Seconds between questions while a read waits for the replica to replay a revision.
WHILE_WAITED = 0.002


class ReplicaCheck(PollingCheck):
    thread_name = "replica-check"

    def __init__(
        self,
        dsn: str,
        name: str,
        *,
        primary_revision: Callable[[], int | None],
        max_lag: float,
        connect_timeout: int = 3,
        every: float = 0.5,
        no_answer_after: float = 3.0,
    ) -> None:
        super().__init__(dsn, REPLICA_CHECK_APPLICATION_NAME, connect_timeout)
        self.name = name  # host:port/dbname, never a password
        self._primary_revision = primary_revision
        self.max_lag = max_lag
        self._every = every
        self._no_answer_after = no_answer_after
        self.revision: int | None = None  # the latest revision it shows, as last checked
        self.standby: bool | None = None  # in recovery (False: it was promoted, or is a primary)
        self.lag_seconds = 0.0
        self.lag_revisions = 0
        self._failed: str | None = NOT_CHECKED
        self._answered_at = 0.0
        self._caught_up_at = time.monotonic()
        self._state: str | None = None  # "in use" or "skipped", as last logged
        self._waits: list[tuple[int, asyncio.Future]] = []  # the event loop's; the thread only looks
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = threading.Event()

    # -- what readers ask ---------------------------------------------------------------

    @property
    def skipped_because(self) -> str | None:
        """Why reads skip it now; None: it serves them."""
        if self._failed is not None:
            return self._failed
        if time.monotonic() - self._answered_at > self._no_answer_after:
            return f"no answer within {self._no_answer_after:.0f}s"
        if self.lag_seconds > self.max_lag:
            return f"{self.lag_seconds:.1f}s ({self.lag_revisions} revisions) behind the primary"
        return None

    @property
    def in_use(self) -> bool:
        return self.skipped_because is None

    @property
    def unchecked(self) -> bool:
        """Not asked yet (the check has just started)."""
        return self._failed is NOT_CHECKED

    def shows(self, revision: int) -> bool:
        """Whether it was last seen showing `revision` (it shows no less since: replay only
        moves forward)."""
        return self.revision is not None and self.revision >= revision

    async def reached(self, revision: int, timeout: float) -> bool:
        """Whether it shows `revision` within `timeout` seconds (on the event loop)."""
        if self.shows(revision):
            return True
        entry = (revision, asyncio.get_running_loop().create_future())
        self._waits.append(entry)
        self._wake.set()  # ask now, and often while someone waits
        try:
            return await asyncio.wait_for(asyncio.shield(entry[1]), timeout)
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waits.remove(entry)

    def failed(self, reason: str) -> None:
        """A read there lost its connection: skip it until a check finds it well again."""
        self._found(reason)

    # -- the thread ---------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:  # its waiting reads are on `loop`
        self._loop = loop
        super().start()

    def stop(self) -> None:
        self._stopping.set()  # before the wake: a woken pause must find it set
        self._wake.set()
        super().stop()

    def ask(self, conn) -> None:
        primary = self._primary_revision()  # first: what the replica must show to be caught up
        with conn.cursor() as cur:
            cur.execute(PROBE)
            revision, standby = cur.fetchone()
        self._answered(revision, standby, primary)

    def unanswered(self, reason: str) -> None:
        self._found(reason)
        self._tell(self._give_up)

    def pause(self) -> None:
        if self._waits and self._failed is None:
            self._stopping.wait(WHILE_WAITED)
        else:
            self._wake.wait(self._every)
            self._wake.clear()

    def _answered(self, revision: int, standby: bool, primary: int | None) -> None:
        now = time.monotonic()
        if primary is None or revision >= primary:
            self._caught_up_at = now
            self.lag_seconds, self.lag_revisions = 0.0, 0
        else:
            self.lag_seconds, self.lag_revisions = now - self._caught_up_at, primary - revision
        if standby != self.standby and self.standby is not None:
            log.info("replica %s %s", self.name, "is a standby again" if standby else "takes writes now (promoted)")
        self.standby = standby
        self.revision = revision
        self._answered_at = now
        self._found(None)
        if self._waits:
            self._tell(self._reached, revision)

    def _found(self, failed: str | None) -> None:
        """Record the check's finding; log a change between in use and skipped once."""
        self._failed = failed
        reason = self.skipped_because
        state = "in use" if reason is None else "skipped"
        if state != self._state:
            if reason is None:
                log.info("replica %s in use (revision %s)", self.name, self.revision)
            else:
                log.warning("replica %s skipped: %s", self.name, reason)
            self._state = state

    def _tell(self, callback: Callable, *arguments: object) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(callback, *arguments)

    # -- on the event loop --------------------------------------------------------------

    def _reached(self, revision: int) -> None:
        for wanted, future in self._waits:
            if wanted <= revision and not future.done():
                future.set_result(True)

    def _give_up(self) -> None:
        for _, future in self._waits:
            if not future.done():
                future.set_result(False)
