"""Whether the database answers, as one background check per instance finds it: /health answers
from here, so that it costs no database round trip however often it is asked (a flood of
/health cannot fill the queue every read waits in).

The check (a thread with a connection of its own: infra/polling.py) asks `probe` (by default
`SELECT 1`; the app asks for the latest revision, which readiness and the metrics use) every
`every` seconds. What /health says is at most `every` seconds old, or says so: a check that
has not answered for `no_answer_after` seconds is a failure. A change of state is logged once,
not at every answer.
"""

import logging
import time

from infra.polling import PollingCheck

log = logging.getLogger(__name__)

# How the checking connection shows in pg_stat_activity.
CHECK_APPLICATION_NAME = "config-service-health"


class DatabaseCheck(PollingCheck):
    def __init__(
        self,
        dsn: str,
        *,
        probe: str = "SELECT 1",
        connect_timeout: int = 3,
        every: float = 0.5,
        no_answer_after: float = 3.0,
    ) -> None:
        super().__init__(dsn, CHECK_APPLICATION_NAME, connect_timeout)
        self._probe = probe
        self.answer: object = None  # the first column of the probe's last answer
        self._every = every
        self._no_answer_after = no_answer_after
        self._failed: str | None = None  # why the last check failed; None: it succeeded
        self._answered_at = time.monotonic()
        self._failing_since = 0.0

    @property
    def reachable(self) -> bool:
        return self.failure is None

    @property
    def failure(self) -> str | None:
        """None while the database answers; else why it does not."""
        if self._failed is not None:
            return self._failed
        if time.monotonic() - self._answered_at > self._no_answer_after:
            return f"no answer within {self._no_answer_after:.0f}s"
        return None

    # -- on the check's thread (infra/polling.py) ------------------------------------------

    def ask(self, conn) -> None:
        with conn.cursor() as cur:
            cur.execute(self._probe)
            row = cur.fetchone()
        self.answer = row[0] if row else None
        self._answered_at = time.monotonic()
        self._found(None)

    def unanswered(self, reason: str) -> None:
        self._found(reason)

    def pause(self) -> None:
        self._stopping.wait(self._every)

    def _found(self, failed: str | None) -> None:
        if (failed is None) != (self._failed is None):
            if failed is None:
                log.info("database answers again, after %.1fs", time.monotonic() - self._failing_since)
            else:
                self._failing_since = time.monotonic()
                log.warning("database unavailable: %s", failed)
        self._failed = failed
