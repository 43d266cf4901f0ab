"""Read replicas against two PostgreSQL 16 servers, the second streaming from the first
(tests/streaming_replica.py): where a read goes, read-your-writes with a replica that lags (its
replay paused), a replica stopped or lagging beyond the bound skipped, and what the listener
takes."""

import asyncio
import time
import uuid

import pytest

from commands.applications import CreateApplication
from infra import metrics
from infra.replicas import Replicas
from migrations import migrate
from queries.changes import latest_revision
from tests.support import database, perform


def on_standby(cur) -> bool:
    """Where a read ran: True on the replica (a standby), False on the primary."""
    cur.execute("SELECT pg_is_in_recovery() AS standby")
    return cur.fetchone()["standby"]


def served(database: str, kind: str) -> float:
    return metrics.DATABASE_READS.labels(database, kind)._value.get()


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the time given"
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def urls(streaming_pair) -> tuple[str, str]:
    primary_url, standby_url = streaming_pair.database(f"replicas_{uuid.uuid4().hex[:8]}")
    migrate(primary_url)
    streaming_pair.wait_for_replay()
    return primary_url, standby_url


@pytest.fixture
def db(urls):
    db = database(urls[0])
    yield db
    db.close()


def replicas_of(urls, db, **options) -> Replicas:
    options = {"wait": 0.5, "max_lag": 5.0, "primary_revision": lambda: db.run_query(latest_revision), **options}
    return Replicas([urls[1]], db, **options)


def write(db) -> int:
    """A change on the primary; its revision."""
    return perform(db, CreateApplication(f"app-{uuid.uuid4().hex[:12]}"))["revision"]


def run(scenario, urls, db, **options) -> None:
    """`scenario(replicas)` on an event loop, the replicas' checks running."""

    async def main() -> None:
        replicas = replicas_of(urls, db, **options)
        replicas.start(asyncio.get_running_loop())
        try:
            await until(lambda: replicas.replicas[0].check.in_use)
            await scenario(replicas)
        finally:
            await asyncio.to_thread(replicas.close)

    asyncio.run(main())


def test_a_read_goes_to_a_replica_that_shows_the_revision_it_must_see(urls, db):
    async def scenario(replicas: Replicas) -> None:
        revision = write(db)
        before = served("replica", "list")
        assert await replicas.query("list", revision, on_standby) is True
        assert served("replica", "list") == before + 1
        assert replicas.replicas[0].check.revision >= revision

    run(scenario, urls, db, wait=10.0)


def test_a_read_after_a_write_the_replica_has_not_replayed_waits_then_reads_the_primary(urls, db, streaming_pair):
    async def scenario(replicas: Replicas) -> None:
        streaming_pair.pause_replay()
        try:
            revision = write(db)
            before = served("primary", "history")
            assert await replicas.query("history", revision, on_standby) is False  # after 0.3 s
            assert served("primary", "history") == before + 1
            assert await replicas.query("history", revision - 1, on_standby) is True  # older: the replica may

            # A replica that replays it within the wait serves the read.
            replicas.wait = 30.0
            reading = asyncio.ensure_future(replicas.query("history", revision, on_standby))
            await asyncio.sleep(0.3)
            assert not reading.done()
            streaming_pair.resume_replay()
            assert await asyncio.wait_for(reading, 10) is True
        finally:
            streaming_pair.resume_replay()

    run(scenario, urls, db, wait=0.3)


def test_a_stopped_replica_is_skipped_and_used_again_once_it_is_back(urls, db, streaming_pair):
    async def scenario(replicas: Replicas) -> None:
        check = replicas.replicas[0].check
        assert await replicas.query("list", 0, on_standby) is True
        streaming_pair.stop_standby()
        try:
            # The connection it held is gone: the read is read again on the primary.
            assert await replicas.query("list", 0, on_standby) is False
            await until(lambda: not check.in_use)
            assert check.skipped_because
            assert await replicas.query("list", 0, on_standby) is False
        finally:
            streaming_pair.start_standby()
        await until(lambda: check.in_use)
        assert await replicas.query("list", write(db), on_standby) is True

    run(scenario, urls, db)


def test_a_replica_lagging_beyond_the_bound_is_skipped_without_waiting(urls, db, streaming_pair):
    async def scenario(replicas: Replicas) -> None:
        check = replicas.replicas[0].check
        streaming_pair.pause_replay()
        try:
            revision = write(db)
            await until(lambda: not check.in_use)
            assert "behind the primary" in check.skipped_because
            started = time.monotonic()
            assert await replicas.query("feed", revision, on_standby) is False
            assert time.monotonic() - started < 10  # skipped: the 30 s wait is not waited
            replicas.sample()
            name = replicas.replicas[0].name
            assert metrics.REPLICA_LAG_SECONDS.labels(name)._value.get() > 0.5
            assert metrics.REPLICA_LAG_REVISIONS.labels(name)._value.get() >= 1
            assert metrics.REPLICA_IN_USE.labels(name)._value.get() == 0
        finally:
            streaming_pair.resume_replay()
        await until(lambda: check.in_use)
        assert check.lag_seconds == 0 and check.lag_revisions == 0
        assert await replicas.query("feed", revision, on_standby) is True

    run(scenario, urls, db, wait=30.0, max_lag=0.5)


def test_the_listener_takes_a_replica_only_when_it_shows_the_primary_s_latest_revision(urls, db, streaming_pair):
    async def scenario(replicas: Replicas) -> None:
        replicas.wait = 10.0
        found = await asyncio.to_thread(replicas.connect_showing, write(db))
        assert found is not None
        replica, conn = found
        assert replica is replicas.replicas[0]
        try:
            with conn.cursor() as cur:
                assert on_standby(cur) is True
        finally:
            conn.close()

        streaming_pair.pause_replay()
        try:
            replicas.wait = 0.2
            assert await asyncio.to_thread(replicas.connect_showing, write(db)) is None
        finally:
            streaming_pair.resume_replay()

    run(scenario, urls, db)


def test_no_replica_in_use_reads_the_primary_and_a_replica_is_never_needed(urls, db):
    async def scenario() -> None:
        down = Replicas(["postgresql://nobody:x@127.0.0.1:1/none"], db, wait=0.5, max_lag=5.0)
        down.start(asyncio.get_running_loop())
        try:
            before = served("primary", "list")
            assert await down.query("list", 0, on_standby) is False
            assert served("primary", "list") == before + 1
            await until(lambda: down.replicas[0].check.skipped_because != "not checked yet")
            assert not down.replicas[0].check.in_use
            assert await asyncio.to_thread(down.connect_showing, 0) is None
        finally:
            await asyncio.to_thread(down.close)

    asyncio.run(scenario())
