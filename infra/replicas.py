"""Read replicas (DATABASE_REPLICA_URLS): PostgreSQL standbys of the primary that serve some of
the read side's reads (which: queries/sources.py), so that the primary keeps its work for the
writes and for what must be current. Writes, If-Match checks (they are inside the write
statements), the listener and every other read stay on the primary.

Why a replica may serve a read: revisions become visible in commit order on the primary
(migrations/0003: each is drawn under a lock held to the commit), and a standby replays the
commits in that same order, so a replica that shows revision R shows every change up to R and
none after it: what a read there finds is what a read of the primary found when R was the
latest. A read therefore names the revision it must see (`seen`: every revision the instance
has shown or written, queries/follow.py), and goes to a replica in use that shows it
(`ReplicaCheck.shows`, from the background check: no round trip per read); when none does yet,
it waits up to REPLICA_WAIT_MS for the most advanced one to replay it (the check asks every few
milliseconds meanwhile), and otherwise reads the primary. A replica that fails a read, stops
answering or lags by more than REPLICA_MAX_LAG_S is skipped until its check finds it well, and
a read it failed is read again on the primary: a replica is never needed. No replica in use:
every read is the primary's, as without replicas.

Each replica has its own read lane (an executor of DB_READ_WORKERS threads behind a bounded
queue, infra/lanes.py) and one connection per thread, made when first needed.
"""

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import psycopg2
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor

from infra import metrics
from infra.database import (
    CONNECTION_ERRORS,
    Database,
    DatabaseUnavailable,
    Overloaded,
    connect_kwargs,
    describe,
    first_line,
    has_unread_input,
)
from infra.lanes import ReadLane
from infra.replica_check import ReplicaCheck

log = logging.getLogger(__name__)

T = TypeVar("T")
PRIMARY, REPLICA = "primary", "replica"  # the metrics' labels of who served a read
# How the reading connections show in pg_stat_activity.
REPLICA_APPLICATION_NAME = "config-service-replica-reads"
# While the listener (re)starts, how often it asks a replica whether it shows a revision yet.
CATCH_UP_POLL = 0.01
# A read that failed on a replica is logged at most this often per replica.
FAILURE_LOG_EVERY = 30.0


class Replica:
    """One replica: its background check, its read lane and its connections."""

    def __init__(
        self,
        dsn: str,
        *,
        workers: int,
        connect_timeout: int,
        statement_timeout_ms: int,
        queue_max: int,
        queue_timeout: float,
        max_lag: float,
        primary_revision: Callable[[], int | None],
    ) -> None:
        self.dsn = dsn
        self.name = describe(dsn)
        self.check = ReplicaCheck(
            dsn, self.name, primary_revision=primary_revision, max_lag=max_lag, connect_timeout=connect_timeout
        )
        self._lane = ReadLane("replica", workers, queue_max, queue_timeout)
        self._connect_timeout = connect_timeout
        self._options = connect_kwargs(connect_timeout, statement_timeout_ms, REPLICA_APPLICATION_NAME)
        self._local = threading.local()  # each lane thread's connection
        self._connections: list[Connection] = []  # every one made, to close at the end
        self._generation = 0
        self._lock = threading.Lock()
        self._failure_logged = 0.0

    async def query(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(cur, *args)` on this replica, in its read lane."""
        return await self._lane.run(self._run_query, fn, *args)

    def _run_query(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                return fn(cur, *args)
        except CONNECTION_ERRORS as exc:
            if conn.closed:  # lost (not a statement cancelled by replay, say): the others too
                self._generation += 1
                self.check.failed(first_line(exc))
            self._drop(conn)
            raise DatabaseUnavailable(first_line(exc)) from exc

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and (conn.closed or self._local.generation != self._generation or has_unread_input(conn)):
            self._drop(conn)
            conn = None
        if conn is None:
            try:
                conn = psycopg2.connect(self.dsn, cursor_factory=RealDictCursor, **self._options)
            except psycopg2.OperationalError as exc:
                self.check.failed(first_line(exc))
                raise DatabaseUnavailable(first_line(exc)) from exc
            conn.autocommit = True
            self._local.conn, self._local.generation = conn, self._generation
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop(self, conn: Connection) -> None:
        self._local.conn = None
        conn.close()
        with self._lock:
            self._connections = [c for c in self._connections if c is not conn]

    def connect(self) -> Connection:
        """A new connection of the caller's own (the listener's thread), with no statement
        timeout: a bulk load may take longer than any request."""
        conn = psycopg2.connect(
            self.dsn,
            cursor_factory=RealDictCursor,
            **connect_kwargs(self._connect_timeout, application_name=REPLICA_APPLICATION_NAME),
        )
        conn.autocommit = True
        return conn

    def note_failure(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._failure_logged >= FAILURE_LOG_EVERY:
            self._failure_logged = now
            log.info("a read on replica %s failed (%s); read on the primary", self.name, first_line(exc))

    @property
    def waiting(self) -> int:
        return self._lane.waiting

    def close(self) -> None:
        self.check.stop()
        self._lane.executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections = []


class Replicas:
    """The replicas of DATABASE_REPLICA_URLS (maybe none), and where a read goes."""

    def __init__(
        self,
        dsns: Iterable[str],
        primary: Database,
        *,
        wait: float,
        max_lag: float,
        workers: int = 2,
        connect_timeout: int = 3,
        statement_timeout_ms: int = 5000,
        queue_max: int = 2000,
        queue_timeout: float = 10.0,
        primary_revision: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._primary = primary
        self.wait = wait  # seconds a read waits for a replica to replay what it must see
        self.replicas = [
            Replica(
                dsn,
                workers=workers,
                connect_timeout=connect_timeout,
                statement_timeout_ms=statement_timeout_ms,
                queue_max=queue_max,
                queue_timeout=queue_timeout,
                max_lag=max_lag,
                primary_revision=primary_revision,
            )
            for dsn in dsns
        ]
        self._turns = itertools.count()

    def __bool__(self) -> bool:
        return bool(self.replicas)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        for replica in self.replicas:
            replica.check.start(loop)
            log.info("read replica %s: checking it", replica.name)

    def close(self) -> None:
        for replica in self.replicas:
            replica.close()

    # -- reads of requests (on the event loop) ------------------------------------------

    async def query(self, kind: str, seen: int, fn: Callable[..., T], *args: Any) -> T:
        """`fn(cur, *args)` on a replica that shows revision `seen`, else on the primary;
        counted by `kind` and by who served it."""
        replica = await self._replica_showing(seen)
        if replica is not None:
            try:
                result = await replica.query(fn, *args)
            except (DatabaseUnavailable, Overloaded, psycopg2.Error) as exc:
                # Lost, busy, cancelled by replay, or behind the primary's schema (a migration
                # not replayed yet): the primary answers.
                replica.note_failure(exc)
            else:
                metrics.read_served(kind, REPLICA)
                return result
        result = await self._primary.query(fn, *args)
        metrics.read_served(kind, PRIMARY)
        return result

    async def _replica_showing(self, seen: int) -> Replica | None:
        in_use = [replica for replica in self.replicas if replica.check.in_use]
        if not in_use:
            return None
        turn = next(self._turns) % len(in_use)  # spread the reads over those that can serve
        for replica in in_use[turn:] + in_use[:turn]:
            if replica.check.shows(seen):
                return replica
        if self.wait <= 0:
            return None
        ahead = max(in_use, key=lambda replica: replica.check.revision or 0)
        return ahead if await ahead.check.reached(seen, self.wait) else None

    # -- the listener's reads (in its thread) ---------------------------------------------

    def connect_showing(self, revision: int) -> tuple[Replica, Connection] | None:
        """A new connection to a replica that shows `revision`, waiting up to REPLICA_WAIT_MS
        for one to replay it; None when none does (or none answers). Replicas in use are asked
        first, the most advanced first; one not checked yet is asked too (at start, the checks
        and the listener begin together)."""
        deadline = time.monotonic() + self.wait
        candidates = [r for r in self.replicas if r.check.in_use or r.check.unchecked]
        candidates.sort(key=lambda replica: (not replica.check.in_use, -(replica.check.revision or 0)))
        for replica in candidates:
            try:
                conn = replica.connect()
            except psycopg2.Error as exc:
                replica.check.failed(first_line(exc))
                continue
            try:
                while True:
                    with conn.cursor() as cur:
                        cur.execute("SELECT coalesce(max(revision), 0) AS revision FROM changes")
                        if cur.fetchone()["revision"] >= revision:
                            return replica, conn
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(CATCH_UP_POLL)
            except psycopg2.Error as exc:
                replica.note_failure(exc)
            conn.close()
        return None

    # -- the metrics --------------------------------------------------------------------

    def sample(self) -> None:
        """Set each replica's gauges (at each flush of the metrics)."""
        for replica in self.replicas:
            check = replica.check
            metrics.REPLICA_LAG_SECONDS.labels(replica.name).set(check.lag_seconds)
            metrics.REPLICA_LAG_REVISIONS.labels(replica.name).set(check.lag_revisions)
            metrics.REPLICA_IN_USE.labels(replica.name).set(1 if check.in_use else 0)
        if self.replicas:
            metrics.QUEUE_DEPTH.labels("replica").set(sum(replica.waiting for replica in self.replicas))
