"""Database access for the event loop: one ThreadedConnectionPool, two ThreadPoolExecutors.

Reads and writes get separate lanes, each an executor behind a bounded wait queue. The pool
holds exactly one connection per worker, so a worker always finds a free connection: a burst
of requests waits in the queue instead of failing with PoolError, and a request that waits
too long, or finds the queue full, gets `Overloaded` (503 + Retry-After).

Reads run in autocommit, one round trip per statement, on few workers (measured fastest: 2).

A third lane, `upkeep`, is the instance's own: one worker and one connection that no request
uses and no request waits for, so that background work (reading the tokens again, recording
their use) cannot be starved by a flood of requests.

Writes are committed in groups (infra/writes.py): every write transaction NOTIFYs, and
PostgreSQL serialises NOTIFYing commits cluster-wide, disk flush included, so one
transaction per command caps writes at one flush each. Commands that arrive while the write
worker is busy therefore wait together and are carried out as one batch, in one round trip:
one transaction, one commit, one flush, each command in a subtransaction so that the one at
fault fails alone. Each command is answered only after its commit. With one write worker
(the default) batches never wait on each other's locks.
"""

import asyncio
import contextlib
import logging
import select
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor
from psycopg2.extensions import parse_dsn
from psycopg2.extras import RealDictCursor
from psycopg2.pool import ThreadedConnectionPool

from infra.writes import ANYONE, Caller, Outcome, RetryAlone, Statement, Work, execute_batch

log = logging.getLogger(__name__)

T = TypeVar("T")
# Errors of the connection or the server (gone, timed out, deadlocked), not of the statement:
# the request gets a 503, and the connection is discarded.
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)
# Errors of one statement of a batch that say nothing about the others.
RETRYABLE_ALONE = (psycopg2.errors.TransactionRollbackError, psycopg2.errors.QueryCanceled)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or did not answer in time."""


class Overloaded(Exception):
    """Too many requests are waiting for a database worker."""


class UnsupportedServer(Exception):
    """The server is not PostgreSQL 16 or newer."""


def describe(dsn: str) -> str:
    """host:port/dbname of a DSN, never its password."""
    parts = parse_dsn(dsn)
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def connect_kwargs(
    connect_timeout: int, statement_timeout_ms: int | None = None, application_name: str = "config-service"
) -> dict:
    kwargs = {
        "connect_timeout": connect_timeout,
        "application_name": application_name,
        # Find a silently vanished server (no FIN) within about 20 seconds.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
    }
    # Timestamps reach Python in UTC, as the API shows them.
    kwargs["options"] = "-c timezone=UTC"
    if statement_timeout_ms:
        kwargs["options"] += f" -c statement_timeout={statement_timeout_ms}"
    return kwargs


class _Lane:
    """An executor and the bounded queue of requests waiting for one of its workers."""

    def __init__(self, name: str, workers: int, queue_max: int, queue_timeout: float) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"db-{name}")
        self.slots = asyncio.Semaphore(workers)
        self.workers = workers
        self.waiting = 0
        self.queue_max = queue_max
        self.queue_timeout = queue_timeout

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.slots.locked():
            if self.waiting >= self.queue_max:
                raise Overloaded("too many requests are waiting for the database")
            self.waiting += 1
            try:
                await asyncio.wait_for(self.slots.acquire(), self.queue_timeout)
            except TimeoutError:
                raise Overloaded("timed out waiting for a database worker") from None
            finally:
                self.waiting -= 1
        else:
            await self.slots.acquire()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.slots.release()


@dataclass(eq=False)
class _Waiting:
    work: Work
    future: asyncio.Future
    timer: asyncio.TimerHandle | None = None
    taken: bool = False


class _WriteLane:
    """Commands waiting for a write worker; each free worker takes all of them (up to
    `max_batch`) as one batch."""

    def __init__(self, db: "Database", workers: int, max_batch: int, queue_max: int, queue_timeout: float) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db-write")
        self.db = db
        self.workers = workers
        self.max_batch = max_batch
        self.queue_max = queue_max
        self.queue_timeout = queue_timeout
        self.waiting: deque[_Waiting] = deque()
        self.running = 0

    async def run(self, work: Work) -> Any:
        if len(self.waiting) >= self.queue_max:
            raise Overloaded("too many requests are waiting for the database")
        loop = asyncio.get_running_loop()
        entry = _Waiting(work, loop.create_future())
        self.waiting.append(entry)
        self._start_batches(loop)
        if not entry.taken:  # it may wait only so long
            entry.timer = loop.call_later(self.queue_timeout, self._expire, entry)
        return await entry.future

    def _expire(self, entry: _Waiting) -> None:
        if not entry.taken:
            self.waiting.remove(entry)
            if not entry.future.done():  # else its request was cancelled meanwhile
                entry.future.set_exception(Overloaded("timed out waiting for a database worker"))

    def _start_batches(self, loop: asyncio.AbstractEventLoop) -> None:
        while self.running < self.workers and self.waiting:
            batch = []
            while self.waiting and len(batch) < self.max_batch:
                entry = self.waiting.popleft()
                entry.taken = True
                if entry.timer is not None:
                    entry.timer.cancel()
                if not entry.future.done():  # else its request was cancelled meanwhile
                    batch.append(entry)
            if not batch:
                break
            self.running += 1
            self.executor.submit(self._carry_out, loop, batch, [entry.work for entry in batch])

    def _carry_out(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting], work: list[Work]) -> None:
        """In the worker thread: the batch, then one call back to the loop with every outcome.
        (Not run_in_executor: its future would take the loop two turns more to reach the
        waiting requests, and under read load every turn is long.)"""
        try:
            outcomes = self.db.run_batch(work)
        except Exception as exc:
            outcomes = [(None, exc)] * len(batch)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(self._finish, loop, batch, outcomes)

    def _finish(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting], outcomes: list) -> None:
        self.running -= 1
        for entry, (result, failure) in zip(batch, outcomes, strict=True):
            if entry.future.done():  # its request was cancelled
                continue
            if failure is None:
                entry.future.set_result(result)
            else:
                entry.future.set_exception(failure)
        self._start_batches(loop)


class Database:
    min_server_version = 160000

    def __init__(
        self,
        dsn: str,
        *,
        read_workers: int,
        write_workers: int,
        max_batch: int = 32,
        connect_timeout: int,
        statement_timeout_ms: int,
        queue_max: int,
        queue_timeout: float,
    ) -> None:
        self.size = read_workers + write_workers + 1  # + the upkeep lane's
        # minconn == maxconn: psycopg2 closes, rather than keeps, connections beyond minconn.
        self._pool = ThreadedConnectionPool(
            self.size,
            self.size,
            dsn,
            cursor_factory=RealDictCursor,
            **connect_kwargs(connect_timeout, statement_timeout_ms),
        )
        self._reads = _Lane("read", read_workers, queue_max, queue_timeout)
        self._writes = _WriteLane(self, write_workers, max_batch, queue_max, queue_timeout)
        self._upkeep = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-upkeep")
        self.server_version = self.run_query(_server_version)
        if self.server_version < self.min_server_version:
            self.close()
            raise UnsupportedServer(
                f"PostgreSQL {self.server_version // 10000} at {describe(dsn)} is too old: "
                f"this service needs PostgreSQL {self.min_server_version // 10000} or newer"
            )

    @classmethod
    def open(cls, dsn: str, *, wait: float, **options: Any) -> "Database":
        """Connect, retrying for up to `wait` seconds while the server is unreachable."""
        deadline = time.monotonic() + wait
        delay = 0.2
        while True:
            try:
                return cls(dsn, **options)
            except psycopg2.OperationalError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
                if time.monotonic() + delay > deadline:
                    raise DatabaseUnavailable(
                        f"database {describe(dsn)} unreachable for {wait:.0f}s: {reason}"
                    ) from None
                log.warning("database %s unreachable (%s); retrying", describe(dsn), reason)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    # -- the two ways in: queries in autocommit, commands' statements in transactions -------

    async def query(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(cur, *args)` on an autocommit connection, in the read lane."""
        return await self._reads.run(self.run_query, fn, *args)

    async def upkeep(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(cur, *args)` on an autocommit connection, in the upkeep lane: for the
        instance's background work only (a few statements a minute), never for requests."""
        return await asyncio.get_running_loop().run_in_executor(self._upkeep, self.run_query, fn, *args)

    def upkeep_in_thread(self, job: Callable[[], Any]) -> None:
        """Run `job()` in the upkeep lane's thread, which may call `run_query` there: for work
        that must not wait for the event loop (any thread may hand it over)."""
        self._upkeep.submit(job)

    async def write(self, statement: Statement, caller: Caller = ANYONE) -> Any:
        """Carry out a command's statement atomically, in the write lane; its committed event,
        or its domain error. It may share its transaction (never its fate) with others."""
        return await self._writes.run((statement, caller))

    def run_write(self, statement: Statement, caller: Caller = ANYONE) -> Any:
        """`write`, in the calling thread, in a transaction of its own."""
        ((result, error),) = self.run_batch([(statement, caller)])
        if error is not None:
            raise error
        return result

    def run_batch(self, work: list[Work]) -> list[Outcome]:
        """Statements in one transaction; each one's (event, error)."""
        try:
            outcomes = self.run_query(execute_batch, work)
        except DatabaseUnavailable as exc:
            # A lost connection (perhaps during COMMIT, so whether it committed is unknown
            # and nothing may run again) fails every command alike. A statement timeout
            # rolled the batch back: each command once more, alone.
            if len(work) == 1 or not isinstance(exc.__cause__, RETRYABLE_ALONE):
                raise
            return [self._alone(item) for item in work]
        # A command that lost a deadlock to another transaction runs once more, alone.
        return [
            self._alone(item) if isinstance(error, RetryAlone) else (result, error)
            for item, (result, error) in zip(work, outcomes, strict=True)
        ]

    def _alone(self, item: Work) -> Outcome:
        try:
            ((result, error),) = self.run_query(execute_batch, [item])
        except Exception as exc:
            return None, exc
        if isinstance(error, RetryAlone):
            error = DatabaseUnavailable(f"the write lost a race twice: {error}")
        return result, error

    def run_query(self, fn: Callable[..., T], *args: Any) -> T:
        """`query`, in the calling thread."""
        conn = self._checkout()
        broken = False
        try:
            with conn.cursor() as cur:
                return fn(cur, *args)
        except CONNECTION_ERRORS as exc:
            broken = True
            raise DatabaseUnavailable(_first_line(exc)) from exc
        finally:
            self._pool.putconn(conn, close=broken or bool(conn.closed))

    def _checkout(self) -> Connection:
        # Each pass either returns a live connection or discards a dead one, so this ends.
        for _ in range(self.size + 1):
            try:
                conn = self._pool.getconn()
            except psycopg2.OperationalError as exc:
                raise DatabaseUnavailable(_first_line(exc)) from exc
            if conn.closed or _has_unread_input(conn):
                # An idle connection with input waiting was told by the server that it is
                # going away (restart, admin shutdown): never hand it out.
                self._pool.putconn(conn, close=True)
                continue
            if not conn.autocommit:
                conn.autocommit = True
            return conn
        raise DatabaseUnavailable("no usable database connection")

    def close(self) -> None:
        self._reads.executor.shutdown(wait=True)
        self._writes.executor.shutdown(wait=True)
        self._upkeep.shutdown(wait=True)
        with contextlib.suppress(psycopg2.pool.PoolError):
            self._pool.closeall()


def _has_unread_input(conn: Connection) -> bool:
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _server_version(cur: Cursor) -> int:
    cur.execute("SHOW server_version_num")
    return int(cur.fetchone()["server_version_num"])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
