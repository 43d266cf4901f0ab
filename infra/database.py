"""Database access for the event loop: a ThreadedConnectionPool served by a ThreadPoolExecutor.

The executor has exactly as many workers as the pool has connections, so a worker always
finds a free connection: a burst of requests waits in a bounded queue in front of the
executor instead of failing with PoolError. A request that waits too long, or finds the
queue full, gets `Overloaded` (503 + Retry-After) instead of waiting forever.
"""

import asyncio
import contextlib
import logging
import select
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg2
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor
from psycopg2.extensions import parse_dsn
from psycopg2.extras import RealDictCursor
from psycopg2.pool import ThreadedConnectionPool

log = logging.getLogger(__name__)

T = TypeVar("T")
MIN_SERVER_VERSION = 160000
# Errors that mean the connection or the server is gone, not that the statement was wrong.
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


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


def connect_kwargs(connect_timeout: int, statement_timeout_ms: int | None = None) -> dict:
    kwargs = {
        "connect_timeout": connect_timeout,
        "application_name": "config-service",
        # Find a silently vanished server (no FIN) within about 20 seconds.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
    }
    if statement_timeout_ms:
        kwargs["options"] = f"-c statement_timeout={statement_timeout_ms}"
    return kwargs


class Database:
    def __init__(
        self,
        dsn: str,
        *,
        size: int,
        connect_timeout: int,
        statement_timeout_ms: int,
        queue_max: int,
        queue_timeout: float,
    ) -> None:
        # minconn == maxconn: psycopg2 closes, rather than keeps, connections beyond minconn.
        self._pool = ThreadedConnectionPool(
            size,
            size,
            dsn,
            cursor_factory=RealDictCursor,
            **connect_kwargs(connect_timeout, statement_timeout_ms),
        )
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="db")
        self._slots = asyncio.Semaphore(size)
        self._waiting = 0
        self._queue_max = queue_max
        self._queue_timeout = queue_timeout
        self.size = size
        self.server_version = self.run_query(_server_version)
        if self.server_version < MIN_SERVER_VERSION:
            self.close()
            raise UnsupportedServer(
                f"PostgreSQL {self.server_version // 10000} at {describe(dsn)} is too old: "
                "this service needs PostgreSQL 16 or newer"
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

    # -- the two ways in: reads in autocommit, commands in one transaction ---------------

    async def query(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(cur, *args)` on an autocommit connection (one round trip per statement)."""
        return await self._submit(self.run_query, fn, *args)

    async def command(self, handler: Callable[[Any, Cursor], T], command: Any) -> T:
        """Run `handler(command, cur)` in one transaction: committed if it returns, else rolled back."""
        return await self._submit(self.run_command, handler, command)

    def run_command(self, handler: Callable[[Any, Cursor], T], command: Any) -> T:
        """`command`, in the calling thread."""
        return self.run_query(_in_transaction, handler, command)

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

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        if self._slots.locked():
            if self._waiting >= self._queue_max:
                raise Overloaded("too many requests are waiting for the database")
            self._waiting += 1
            try:
                await asyncio.wait_for(self._slots.acquire(), self._queue_timeout)
            except TimeoutError:
                raise Overloaded("timed out waiting for a database worker") from None
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._slots.release()

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
        self._executor.shutdown(wait=True)
        with contextlib.suppress(psycopg2.pool.PoolError):
            self._pool.closeall()


def _in_transaction[T](cur: Cursor, handler: Callable[[Any, Cursor], T], command: Any) -> T:
    conn = cur.connection
    conn.autocommit = False
    try:
        result = handler(command, cur)
        conn.commit()
        return result
    except BaseException:
        with contextlib.suppress(*CONNECTION_ERRORS):
            conn.rollback()
        raise
    finally:
        if not conn.closed:
            with contextlib.suppress(*CONNECTION_ERRORS):
                conn.autocommit = True


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
