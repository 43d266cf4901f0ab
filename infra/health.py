"""Whether the database answers, as one background check per instance finds it: /health answers
from here, so that it costs no database round trip however often it is asked (a flood of
/health cannot fill the queue every read waits in).

The check is a thread with a connection of its own, asking `probe` (by default `SELECT 1`; the
app asks for the latest revision, which readiness and the metrics use) every `every` seconds:
neither its answer nor its timing depends on the event loop, which a flood of requests can
keep busy for seconds. What /health says is at most `every` seconds old, or says so: a check
that has not answered for `no_answer_after` seconds is a failure. A change of state is logged
once, not at every answer.
"""

import logging
import threading
import time

import psycopg2

from infra.database import connect_kwargs

log = logging.getLogger(__name__)

# How the checking connection shows in pg_stat_activity.
CHECK_APPLICATION_NAME = "config-service-health"


class DatabaseCheck:
    def __init__(
        self,
        dsn: str,
        *,
        probe: str = "SELECT 1",
        connect_timeout: int = 3,
        every: float = 0.5,
        no_answer_after: float = 3.0,
    ) -> None:
        self._dsn = dsn
        self._probe = probe
        self.answer: object = None  # the first column of the probe's last answer
        self._connect_timeout = connect_timeout
        self._every = every
        self._no_answer_after = no_answer_after
        self._failed: str | None = None  # why the last check failed; None: it succeeded
        self._answered_at = time.monotonic()
        self._failing_since = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

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

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="database-check", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self._connect_timeout + 1)

    def _run(self) -> None:
        conn = None
        while not self._stopping.is_set():
            try:
                if conn is None:
                    conn = psycopg2.connect(
                        self._dsn,
                        # (With tcp_user_timeout: a server that vanished without a word fails it.)
                        **connect_kwargs(self._connect_timeout, application_name=CHECK_APPLICATION_NAME),
                    )
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(self._probe)
                    row = cur.fetchone()
                self.answer = row[0] if row else None
                self._answered_at = time.monotonic()
                self._found(None)
            except (psycopg2.Error, OSError) as exc:
                text = str(exc).strip()
                self._found(text.splitlines()[0] if text else type(exc).__name__)
                if conn is not None:
                    conn.close()
                    conn = None
            self._stopping.wait(self._every)
        if conn is not None:
            conn.close()

    def _found(self, failed: str | None) -> None:
        if (failed is None) != (self._failed is None):
            if failed is None:
                log.info("database answers again, after %.1fs", time.monotonic() - self._failing_since)
            else:
                self._failing_since = time.monotonic()
                log.warning("database unavailable: %s", failed)
        self._failed = failed
