"""The read model's bulk load and its resync after a gap, read on a streaming replica while the
listening connection stays on the primary (queries/snapshot.py): consistent at a revision no
older than the primary's when LISTEN began, and never missing a change the replica has not
replayed yet."""

import asyncio
import uuid

import psycopg2
import pytest
from psycopg2.extras import RealDictCursor

from commands.applications import CreateApplication
from commands.configurations import CreateConfiguration, UpdateConfiguration
from infra.replicas import Replicas
from migrations import migrate
from queries.changes import latest_revision
from queries.read_model import ReadModel
from queries.snapshot import Gap, Snapshot
from queries.sources import ReadSources
from tests.support import database, perform


@pytest.fixture(scope="module")
def urls(streaming_pair) -> tuple[str, str]:
    primary_url, standby_url = streaming_pair.database(f"catch_up_{uuid.uuid4().hex[:8]}")
    migrate(primary_url)
    streaming_pair.wait_for_replay()
    return primary_url, standby_url


@pytest.fixture
def db(urls):
    db = database(urls[0])
    yield db
    db.close()


@pytest.fixture
def listening(urls):
    """The listener's connection: on the primary, listening."""
    conn = psycopg2.connect(urls[0], cursor_factory=RealDictCursor)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("LISTEN config_changes")
    yield conn
    conn.close()


def with_replica(scenario, urls, db, wait: float = 10.0) -> None:
    """`scenario(reads)`: a read model whose bulk reads may go to the replica."""

    async def main() -> None:
        replicas = Replicas([urls[1]], db, wait=wait, max_lag=5.0)
        replicas.start(asyncio.get_running_loop())
        try:
            await scenario(ReadModel(db, 1 << 20, sources=ReadSources(db, replicas)), replicas)
        finally:
            await asyncio.to_thread(replicas.close)

    asyncio.run(main())


def configuration(db) -> dict:
    app = perform(db, CreateApplication(f"app-{uuid.uuid4().hex[:12]}"))
    return perform(db, CreateConfiguration(app["id"], "settings", {"v": 1}))


def test_the_bulk_load_is_read_on_the_replica_at_no_older_a_revision_than_the_primary_s(urls, db, listening):
    async def scenario(reads: ReadModel, replicas: Replicas) -> None:
        made = configuration(db)  # just committed: the replica may not show it yet, and must wait
        snapshot = await asyncio.to_thread(reads.catch_up, listening)
        assert isinstance(snapshot, Snapshot)
        assert snapshot.replica == replicas.replicas[0].name
        assert snapshot.revision >= made["revision"]
        assert made["id"] in {row[0] for row in snapshot.configurations}

    with_replica(scenario, urls, db)


def test_a_gap_the_replica_has_not_replayed_is_read_on_the_primary_and_misses_nothing(
    urls, db, listening, streaming_pair
):
    async def scenario(reads: ReadModel, replicas: Replicas) -> None:
        made = configuration(db)
        reads.resume(await asyncio.to_thread(reads.catch_up, listening))
        streaming_pair.pause_replay()
        try:
            missed = perform(db, UpdateConfiguration(made["id"], "settings", {"v": 2}))
            gap = await asyncio.to_thread(reads.catch_up, listening)  # waits 0.3 s for the replica
            assert isinstance(gap, Gap)
            assert gap.replica is None
            assert missed["revision"] in [change.revision for change in gap.changes]
            assert gap.revision == db.run_query(latest_revision)
            reads.resume(gap)
        finally:
            streaming_pair.resume_replay()

        # Replayed: the next gap is read on the replica, from where the last one ended.
        replicas.wait = 10.0
        later = perform(db, UpdateConfiguration(made["id"], "settings", {"v": 3}))
        gap = await asyncio.to_thread(reads.catch_up, listening)
        assert gap.replica == replicas.replicas[0].name
        assert gap.since == missed["revision"]
        assert [change.revision for change in gap.changes] == [later["revision"]]

    with_replica(scenario, urls, db, wait=0.3)
