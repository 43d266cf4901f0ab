"""The read model against PostgreSQL 16: what it holds, what it serves when it stops following
the database, how it catches up, fills that race with changes, and watches. Nothing listens
here: the tests play the listener's part."""

import asyncio
import time

import psycopg2
import pytest
from psycopg2.extras import RealDictCursor

from commands.applications import CreateApplication
from commands.configurations import (
    CreateConfiguration,
    DeleteConfiguration,
    UpdateConfiguration,
)
from infra.events import Committed
from queries.announcements import committed_of
from queries.by_name import Missing
from queries.changes import latest_revision
from queries.read_model import ReadModel
from queries.snapshot import Gap, Snapshot
from tests.support import announcement, perform


def announced(kind: str, id: str, application_id: str, revision: int = 10**12) -> Committed:
    """What the listener hands over for a change."""
    return committed_of(announcement(revision, kind, id, application_id, version=2))


def written(kind: str, row: dict, action: str = "updated") -> Committed:
    """What the command bus hands over for a change of this instance."""
    application_id = row["id"] if kind == "application" else row["application_id"]
    kept = None if action == "deleted" else row
    return Committed(row["revision"], kind, action, row["id"], application_id, row["name"], kept)


class CountingDb:
    """The database, counting the queries the read model sends it."""

    def __init__(self, db) -> None:
        self._db = db
        self.queries: list[str] = []

    async def query(self, fn, *args):
        self.queries.append(fn.__name__)
        return await self._db.query(fn, *args)


@pytest.fixture
def configuration(db, unique) -> dict:
    app = perform(db, CreateApplication(unique("app")))
    return perform(db, CreateConfiguration(app["id"], unique(), {"v": 1}))


@pytest.fixture
def listener_connection(database_url):
    """A connection as the listener has one."""
    conn = psycopg2.connect(database_url, cursor_factory=RealDictCursor)
    conn.autocommit = True
    yield conn
    conn.close()


def live(reads: ReadModel, db) -> ReadModel:
    """Listening, as of the latest revision, with nothing loaded."""
    reads.resume(Snapshot(revision=db.run_query(latest_revision)))
    return reads


def set_config_behind_its_back(database_url: str, id: str, value: int) -> None:
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE configurations SET config = %s WHERE id = %s", (f'{{"v": {value}}}', id))
    finally:
        conn.close()


def run(coroutine):
    return asyncio.run(coroutine)


def test_views_are_held_only_while_listening(db, database_url, configuration):
    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        await reads.configuration(configuration["id"])
        assert reads.size[0] == 0  # not listening yet: nothing held

        live(reads, db)
        assert b'"v":1' in (await reads.configuration(configuration["id"])).body
        assert reads.size[0] == 1
        set_config_behind_its_back(database_url, configuration["id"], 2)
        assert b'"v":1' in (await reads.configuration(configuration["id"])).body  # held, as expected

        reads.pause()  # the listener lost its connection: held views may go stale
        assert b'"v":2' in (await reads.configuration(configuration["id"])).body  # by id: the database
        assert reads.size[0] == 1  # kept, for the client path

    run(scenario())


def test_while_paused_the_client_path_serves_what_is_held_marked_stale(db, database_url, configuration):
    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        with psycopg2.connect(database_url, cursor_factory=RealDictCursor) as conn:
            conn.autocommit = True
            reads.resume(reads.catch_up(conn))
        app_name = db.run_query(_application_name, configuration["application_id"])

        fresh = await reads.configuration_by_name(app_name, configuration["name"])
        assert not fresh.stale and b'"v":1' in fresh.found.body

        reads.pause()
        set_config_behind_its_back(database_url, configuration["id"], 3)
        stale = await reads.configuration_by_name(app_name, configuration["name"])
        assert stale.stale and stale.found == fresh.found  # the last version known here
        bundle = await reads.bundle(app_name)
        assert bundle.stale and b'"v":1' in bundle.found.body

    run(scenario())


def _application_name(cur, id: str) -> str:
    cur.execute("SELECT name FROM applications WHERE id = %s", (id,))
    return cur.fetchone()["name"]


def test_a_snapshot_loads_every_name_and_every_view_that_fits(db, listener_connection, configuration):
    reads = ReadModel(db, max_bytes=64 << 20)
    snapshot = reads.catch_up(listener_connection)

    assert isinstance(snapshot, Snapshot) and snapshot.complete
    assert snapshot.revision == db.run_query(latest_revision)
    reads.resume(snapshot)
    assert reads.loaded and reads.listening and reads.state == "live"
    app_name = db.run_query(_application_name, configuration["application_id"])
    assert reads.directory.application_id(app_name) == configuration["application_id"]
    assert (
        reads.directory.configuration_id(configuration["application_id"], configuration["name"]) == configuration["id"]
    )
    assert f"c:{configuration['id']}" in reads.views.entries
    # An application's view and its bundle are put together from what the snapshot held.
    assert reads._assemble_application(configuration["application_id"]) is not None
    assert reads._assemble_bundle(configuration["application_id"]) is not None

    small = ReadModel(db, max_bytes=2000).catch_up(listener_connection)
    assert not small.complete
    held = [body for *_, body, _, _ in small.configurations if body is not None]
    assert held and sum(len(body) + 200 for body in held) <= 2000
    assert len(small.configurations) == len(snapshot.configurations)  # every name, whatever the bound
    assert len(small.applications) == len(snapshot.applications)


def test_after_a_gap_only_what_changed_is_read_again(db, listener_connection, configuration, unique):
    app = configuration["application_id"]
    kept = perform(db, CreateConfiguration(app, unique("kept"), {}))
    other = perform(db, CreateApplication(unique("other")))
    untouched = perform(db, CreateConfiguration(other["id"], unique(), {}))

    async def scenario():
        reads = ReadModel(db, max_bytes=64 << 20)
        reads.resume(reads.catch_up(listener_connection))
        reads.pause()
        # Changes nobody announced to this instance.
        renamed = unique("renamed")
        perform(db, UpdateConfiguration(configuration["id"], renamed, {"v": 2}))
        perform(db, DeleteConfiguration(kept["id"]))

        gap = reads.catch_up(listener_connection)
        assert isinstance(gap, Gap) and len(gap.changes) == 2
        reads.resume(gap)

        assert f"c:{untouched['id']}" in reads.views.entries  # not read again
        assert f"c:{configuration['id']}" in reads.views.fills  # read again, with everything the gap touched
        assert b'"v":2' in (await reads.configuration(configuration["id"])).body  # joins that read
        assert not reads.views.fills
        assert reads.directory.configuration_id(app, renamed) == configuration["id"]
        assert reads.directory.configuration_id(app, configuration["name"]) is None
        assert reads.directory.configuration_id(app, kept["name"]) is None
        app_name = db.run_query(_application_name, app)
        assert b'"v":2' in (await reads.configuration_by_name(app_name, renamed)).found.body
        assert await reads.configuration_by_name(app_name, kept["name"]) == (Missing("configuration"), False)

    run(scenario())


def test_announcements_refresh_the_views_they_touched_in_one_query(db, database_url, configuration, unique):
    app = configuration["application_id"]
    second = perform(db, CreateConfiguration(app, unique(), {"v": 1}))

    async def scenario():
        counting = CountingDb(db)
        reads = live(ReadModel(counting, max_bytes=1 << 20), db)
        await reads.configuration(configuration["id"])
        await reads.configuration(second["id"])
        await reads.application(app)
        assert reads.size[0] == 3

        set_config_behind_its_back(database_url, configuration["id"], 5)
        set_config_behind_its_back(database_url, second["id"], 6)
        counting.queries.clear()
        reads.apply(
            [
                announced("configuration", id, app, 10**12 + n)
                for n, id in enumerate((configuration["id"], second["id"]))
            ],
            announced=True,
        )
        first, other = await asyncio.gather(reads.configuration(configuration["id"]), reads.configuration(second["id"]))
        assert b'"v":5' in first.body and b'"v":6' in other.body
        assert counting.queries == ["refresh"]  # one statement for the batch; the readers waited for it
        # Its application's view, unchanged by an update, is still held.
        assert (await reads.application(app)).etag.startswith(str(db.run_query(_revision_of, app)))
        assert counting.queries == ["refresh"]

    run(scenario())


def test_batches_announced_while_a_refresh_runs_are_read_again_together_one_statement_at_a_time(
    db, database_url, configuration, unique
):
    app = configuration["application_id"]
    others = [perform(db, CreateConfiguration(app, unique(), {"v": 1})) for _ in range(4)]
    ids = [configuration["id"], *(other["id"] for other in others)]

    class OneAtATime(CountingDb):
        """Counts the statements in flight at once, and the most ever."""

        in_flight = most = 0

        async def query(self, fn, *args):
            OneAtATime.in_flight += 1
            OneAtATime.most = max(OneAtATime.most, OneAtATime.in_flight)
            try:
                return await super().query(fn, *args)
            finally:
                OneAtATime.in_flight -= 1

    async def scenario():
        counting = OneAtATime(db)
        reads = live(ReadModel(counting, max_bytes=1 << 20), db)
        for n, id in enumerate(ids):
            set_config_behind_its_back(database_url, id, 10 + n)
        counting.queries.clear()
        for n, id in enumerate(ids):  # five batches in one turn, as a burst is handed over
            reads.apply([announced("configuration", id, app, 10**12 + n)], announced=True)
        # The first id changes again before its first reading is sent: both fills are answered.
        first_reader = asyncio.ensure_future(reads.configuration(ids[0]))
        await asyncio.sleep(0)
        reads.apply([announced("configuration", ids[0], app, 10**12 + 10)], announced=True)
        views = await asyncio.gather(first_reader, *(reads.configuration(id) for id in ids))
        assert [view.body.count(f'"v":{10 + n}'.encode()) for n, view in enumerate(views[1:])] == [1] * 5
        assert b'"v":10' in views[0].body
        assert counting.queries == ["refresh", "refresh"]  # the five together, then the one changed again
        assert OneAtATime.most == 1

    run(scenario())


def _revision_of(cur, id: str) -> int:
    cur.execute("SELECT revision FROM applications WHERE id = %s", (id,))
    return cur.fetchone()["revision"]


def test_an_application_view_is_put_together_from_memory_as_the_database_would(db, listener_connection, unique):
    app = perform(db, CreateApplication(unique("app"), "with 'quotes' and \"more\""))
    for _ in range(3):
        perform(db, CreateConfiguration(app["id"], unique(), {}))

    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        reads.resume(reads.catch_up(listener_connection))
        assembled = reads._assemble_application(app["id"])
        from_database = await ReadModel(db, max_bytes=0).application(app["id"])
        assert (assembled.body, assembled.etag) == (from_database.body, from_database.etag)
        bundle = reads._assemble_bundle(app["id"])
        name = db.run_query(_application_name, app["id"])
        direct = await ReadModel(db, max_bytes=0).bundle(name)
        assert (bundle.body, bundle.etag) == (direct.found.body, direct.found.etag)

    run(scenario())


def test_an_announcement_already_followed_is_ignored(db, configuration):
    async def scenario():
        reads = live(ReadModel(db, max_bytes=1 << 20), db)
        await reads.configuration(configuration["id"])
        old = announced("configuration", configuration["id"], configuration["application_id"], reads.revision)
        reads.apply([old], announced=True)  # e.g. read in the snapshot already
        assert reads.size[0] == 1

    run(scenario())


def test_a_change_during_a_fill_voids_the_fill(db, database_url, configuration):
    async def scenario():
        reads = live(ReadModel(db, max_bytes=1 << 20), db)
        blocker = psycopg2.connect(database_url)
        try:
            # Hold the fill's SELECT until the change has been announced.
            with blocker.cursor() as cur:
                cur.execute("LOCK TABLE configurations IN ACCESS EXCLUSIVE MODE")
            fill = asyncio.ensure_future(reads.configuration(configuration["id"]))
            await asyncio.sleep(0.2)
            reads.apply(
                [announced("configuration", configuration["id"], configuration["application_id"])], announced=True
            )
            blocker.rollback()
            filled = await fill
            assert filled is not None
        finally:
            blocker.close()
        # What the fill read may predate the change: not kept. What is held was read after it.
        refreshed = await reads.configuration(configuration["id"])
        assert refreshed is not filled and reads.views.entries[f"c:{configuration['id']}"] is refreshed

    run(scenario())


def test_list_pages_are_dropped_when_any_application_or_configuration_changes(db, unique):
    async def scenario():
        reads = live(ReadModel(db, max_bytes=1 << 20), db)
        for change in (
            announced("configuration", "0" * 26, "1" * 26, 10**12),  # counts and latest changes show in lists
            announced("application", "0" * 26, "0" * 26, 10**12 + 1),
        ):
            await reads.application_page(10, None)
            await reads.application_page(5, None, search="x")
            assert reads.size[0] == 2
            reads.apply([change], announced=True)
            assert reads.size[0] == 0

    run(scenario())


def test_an_applications_configuration_pages_are_dropped_when_one_of_its_configurations_changes(db, unique):
    app = perform(db, CreateApplication(unique("app")))
    other = perform(db, CreateApplication(unique("other")))

    async def scenario():
        reads = live(ReadModel(db, max_bytes=1 << 20), db)
        await reads.configuration_page(app["id"], 10, None)
        await reads.configuration_page(other["id"], 10, None)
        reads.apply([announced("configuration", "0" * 26, app["id"])], announced=True)
        assert reads.size[0] == 1
        assert await reads.configuration_page(other["id"], 10, None) is reads.views.entries[f"p:{other['id']}:10::0"]

    run(scenario())


def test_held_views_stay_within_the_byte_bound(db, unique):
    app = perform(db, CreateApplication(unique("app")))
    ids = [perform(db, CreateConfiguration(app["id"], unique(), {"pad": "x" * 1000}))["id"] for _ in range(10)]

    async def scenario():
        reads = live(ReadModel(db, max_bytes=5000), db)
        for id in ids:
            await reads.configuration(id)
        held, used = reads.size
        assert 0 < held < len(ids)
        assert used <= 5000

    run(scenario())


def test_a_watch_ends_when_the_view_changes_or_goes_or_its_time_passes(db, listener_connection, configuration):
    app = configuration["application_id"]

    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        reads.resume(reads.catch_up(listener_connection))
        name = db.run_query(_application_name, app)

        def read():
            return reads.configuration_by_name(name, configuration["name"])

        current = (await read()).found

        def unchanged(entry):
            return entry.etag == current.etag

        started = time.monotonic()
        reads_made = 0

        def counted_read():
            nonlocal reads_made
            reads_made += 1
            return read()

        assert (await reads.watch(name, counted_read, unchanged, 0.3)).found == current  # time passed
        assert time.monotonic() - started >= 0.3
        assert reads_made == 1  # none when the time is up: it could only fail (a 503, not a 304)

        watching = asyncio.ensure_future(reads.watch(name, read, unchanged, 30))
        await asyncio.sleep(0.1)
        assert not watching.done()
        changed = perform(db, UpdateConfiguration(configuration["id"], configuration["name"], {"v": 9}))
        reads.apply([written("configuration", changed)], announced=False)  # as a write here does
        answer = await asyncio.wait_for(watching, 1)
        assert answer.found.etag == str(changed["revision"])

        gone = asyncio.ensure_future(reads.watch(name, read, lambda e: True, 30))
        await asyncio.sleep(0.1)
        deleted = perform(db, DeleteConfiguration(configuration["id"]))
        reads.apply([written("configuration", deleted, "deleted")], announced=False)
        assert (await asyncio.wait_for(gone, 1)).found == Missing("configuration")

    run(scenario())


def test_a_write_of_this_instance_is_found_by_name_before_its_announcement(db, listener_connection, unique):
    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        reads.resume(reads.catch_up(listener_connection))
        app = perform(db, CreateApplication(unique("app")))
        config = perform(db, CreateConfiguration(app["id"], "c", {"v": 1}))
        assert (await reads.bundle(app["name"])).found == Missing("application")  # not announced here

        # As the command bus does: the rows the writes left, before any announcement.
        reads.apply(
            [written("application", app, "created"), written("configuration", config, "created")], announced=False
        )
        before = reads.size[0]

        assert b'"v":1' in (await reads.configuration_by_name(app["name"], "c")).found.body
        assert b'"c"' in (await reads.bundle(app["name"])).found.body
        assert reads.size[0] == before + 1  # the bundle, put together from what the writes left

    run(scenario())
