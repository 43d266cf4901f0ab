"""Database access for the event loop: one ThreadedConnectionPool, three ThreadPoolExecutors.

Reads and writes get separate lanes (infra/lanes.py), each an executor behind a bounded wait
queue. The pool holds exactly one connection per worker, so a worker always finds a free
connection: a burst of requests waits in the queue instead of failing with PoolError, and a
request that waits too long, or finds the queue full, gets `Overloaded` (503 + Retry-After).

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

A server that vanishes without a word is given up on within DB_CONNECT_TIMEOUT
(`connect_kwargs`), and the connections made before a lost one are not handed out again
(`renew_connections`): see docs/architecture.md, "Failover".
"""

import asyncio
import contextlib
import itertools
import logging
import select
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor
from psycopg2.extensions import parse_dsn
from psycopg2.extras import RealDictCursor
from psycopg2.pool import ThreadedConnectionPool

from infra.hosts import Hosts
from infra.lanes import Overloaded as Overloaded  # where it is raised; imported from here
from infra.lanes import ReadLane, WriteLane
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


class UnsupportedServer(Exception):
    """The server is not PostgreSQL 16 or newer."""


def describe(dsn: str) -> str:
    """host:port[,host:port...]/dbname of a DSN, never its password. A multi-host DSN
    (libpq: `host=db1,db2`, one port for all or one each) names every host with its port."""
    parts = parse_dsn(dsn)
    hosts = (parts.get("host") or parts.get("hostaddr") or "localhost").split(",")
    ports = (parts.get("port") or "5432").split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    named = ",".join(f"{host or 'localhost'}:{port or 5432}" for host, port in zip(hosts, ports, strict=False))
    return f"{named}/{parts.get('dbname', '')}"


def connect_kwargs(
    connect_timeout: int, statement_timeout_ms: int | None = None, application_name: str = "config-service"
) -> dict:
    """Connection options. A server that vanishes without a word (a partition, a powered-off
    host: no FIN, no RST) is given up on within a few seconds, not after TCP's minutes: a
    request sent but not acknowledged for `connect_timeout` seconds fails (tcp_user_timeout),
    and a connection waiting for an answer with nothing in flight is probed after 2 idle
    seconds (keepalives, whose failure tcp_user_timeout also bounds). A long statement is
    not cut short by either: the server's kernel acknowledges the probes."""
    kwargs = {
        "connect_timeout": connect_timeout,
        "application_name": application_name,
        "tcp_user_timeout": connect_timeout * 1000,
        "keepalives": 1,
        "keepalives_idle": 2,
        "keepalives_interval": 1,
        "keepalives_count": 3,
    }
    # Timestamps reach Python in UTC, as the API shows them.
    kwargs["options"] = "-c timezone=UTC"
    if statement_timeout_ms:
        kwargs["options"] += f" -c statement_timeout={statement_timeout_ms}"
    return kwargs


class _Connection(psycopg2.extensions.connection):
    """A pooled connection, stamped with the pool's generation when first handed out."""

    generation: int | None = None


class _Pool(ThreadedConnectionPool):
    """psycopg2's pool, making each new connection with the hosts in the order that last
    worked (infra/hosts.py). (`_connect` and `_args` are the pool's own: unchanged since 2.0.)"""

    def __init__(self, hosts: Hosts, size: int, **kwargs: Any) -> None:
        self.hosts = hosts
        super().__init__(size, size, hosts.dsn, **kwargs)

    def _connect(self, key: Any = None) -> Connection:
        self._args = (self.hosts.dsn,)
        return super()._connect(key)


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
        self._generations = itertools.count(1)
        self._generation = 0
        self.hosts = Hosts(dsn)  # the listener shares it (api/app.py)
        # minconn == maxconn: psycopg2 closes, rather than keeps, connections beyond minconn.
        self._pool = _Pool(
            self.hosts,
            self.size,
            connection_factory=_Connection,
            cursor_factory=RealDictCursor,
            **connect_kwargs(connect_timeout, statement_timeout_ms),
        )
        self._reads = ReadLane("read", read_workers, queue_max, queue_timeout)
        self._writes = WriteLane(self.run_batch, write_workers, max_batch, queue_max, queue_timeout)
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
            if conn.closed:  # lost, not merely a statement that failed
                self.renew_connections()
            raise DatabaseUnavailable(first_line(exc)) from exc
        finally:
            self._pool.putconn(conn, close=broken or bool(conn.closed))

    def renew_connections(self) -> None:
        """Hand out none of the connections made so far again: one was lost, or the listener
        lost its own, and the others most likely lead to the same server. A server that
        vanished without a word leaves them looking idle and healthy, and each would cost a
        request its wait; with several hosts (a failover), new ones find the new primary."""
        self._generation = next(self._generations)

    def _checkout(self) -> Connection:
        # Each pass either returns a live connection or discards a dead one, so this ends.
        for _ in range(self.size + 1):
            try:
                conn = self._pool.getconn()
            except psycopg2.OperationalError as exc:
                raise DatabaseUnavailable(first_line(exc)) from exc
            if conn.closed or conn.generation not in (None, self._generation) or has_unread_input(conn):
                # An idle connection with input waiting was told by the server that it is
                # going away (restart, admin shutdown): never hand it out.
                self._pool.putconn(conn, close=True)
                continue
            if conn.generation is None:  # new: its host answered as the DSN asks
                conn.generation = self._generation
                self.hosts.worked(conn.info.host, conn.info.port)
            if not conn.autocommit:
                conn.autocommit = True
            return conn
        raise DatabaseUnavailable("no usable database connection")

    def queue_depths(self) -> dict[str, int]:
        """Requests waiting for a database worker now, by lane."""
        return {"read": self._reads.waiting, "write": len(self._writes.waiting)}

    def close(self) -> None:
        self._reads.executor.shutdown(wait=True)
        self._writes.executor.shutdown(wait=True)
        self._upkeep.shutdown(wait=True)
        with contextlib.suppress(psycopg2.pool.PoolError):
            self._pool.closeall()


def has_unread_input(conn: Connection) -> bool:
    """Whether an idle connection has input waiting: the server said it is going away."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _server_version(cur: Cursor) -> int:
    cur.execute("SHOW server_version_num")
    return int(cur.fetchone()["server_version_num"])


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
