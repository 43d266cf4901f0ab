"""A background check of one database: a thread with a connection of its own, asking the same
question again and again, so that what the service knows of the database never costs a
request a round trip, and neither the answer nor its timing depends on the event loop, which
a flood of requests can keep busy for seconds.

infra/health.py (is the primary there) and infra/replica_check.py (how far a replica has got)
are the two; each says what it asks, what it makes of an answer or a failure, and how long it
waits before asking again.
"""

import threading

import psycopg2
from psycopg2.extensions import connection as Connection

from infra.database import connect_kwargs, first_line


class PollingCheck:
    thread_name = "database-check"

    def __init__(self, dsn: str, application_name: str, connect_timeout: int) -> None:
        self._dsn = dsn
        self._application_name = application_name  # how its connection shows in pg_stat_activity
        self._connect_timeout = connect_timeout
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what each check says -------------------------------------------------------------

    def ask(self, conn: Connection) -> None:
        """One question, and what its answer means (on the check's thread)."""
        raise NotImplementedError

    def unanswered(self, reason: str) -> None:
        """The question could not be asked or answered: the first line of why."""
        raise NotImplementedError

    def pause(self) -> None:
        """Wait until the next question (returns early when stopping)."""
        raise NotImplementedError

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
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
                        **connect_kwargs(self._connect_timeout, application_name=self._application_name),
                    )
                    conn.autocommit = True
                self.ask(conn)
            except (psycopg2.Error, OSError) as exc:
                self.unanswered(first_line(exc))
                if conn is not None:
                    conn.close()
                    conn = None
            self.pause()
        if conn is not None:
            conn.close()
