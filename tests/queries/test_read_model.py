"""The read model against PostgreSQL 16: what it holds, when it must not, and fills that race
with changes. Here nothing listens, so the tests play the listener's part."""

import asyncio

import psycopg2
import pytest

from commands.applications import CreateApplication, create_application
from commands.configurations import CreateConfiguration, create_configuration
from queries.read_model import ReadModel
from queries.views import ChangeView


def announced(kind: str, id: str, application_id: str) -> ChangeView:
    """What the listener hands over for a change (the revision and the rest do not matter here)."""
    return ChangeView(
        revision=1,
        at="2026-11-28T00:00:00Z",
        actor=None,
        request_id=None,
        action="updated",
        kind=kind,
        id=id,
        application_id=application_id,
        name="n",
        version=2,
    )


@pytest.fixture
def configuration(db, unique) -> dict:
    app = db.run_command(create_application, CreateApplication(unique("app")))
    return db.run_command(create_configuration, CreateConfiguration(app["id"], unique(), {"v": 1}))


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

        reads.set_listening(True)
        assert b'"v":1' in (await reads.configuration(configuration["id"])).body
        assert reads.size[0] == 1
        set_config_behind_its_back(database_url, configuration["id"], 2)
        assert b'"v":1' in (await reads.configuration(configuration["id"])).body  # held, as expected

        reads.set_listening(False)  # the listener lost its connection
        assert reads.size == (0, 0)
        assert b'"v":2' in (await reads.configuration(configuration["id"])).body  # bypassed: the database
        set_config_behind_its_back(database_url, configuration["id"], 3)
        assert b'"v":3' in (await reads.configuration(configuration["id"])).body
        assert reads.size[0] == 0

    run(scenario())


def test_an_announcement_drops_the_view_and_its_applications_view(db, database_url, configuration):
    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        reads.set_listening(True)
        await reads.configuration(configuration["id"])
        await reads.application(configuration["application_id"])
        assert reads.size[0] == 2

        set_config_behind_its_back(database_url, configuration["id"], 5)
        reads.apply([announced("configuration", configuration["id"], configuration["application_id"])])
        assert reads.size[0] == 0
        assert b'"v":5' in (await reads.configuration(configuration["id"])).body

    run(scenario())


def test_a_change_during_a_fill_voids_the_fill(db, database_url, configuration):
    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        reads.set_listening(True)
        blocker = psycopg2.connect(database_url)
        try:
            # Hold the fill's SELECT until the change has been announced.
            with blocker.cursor() as cur:
                cur.execute("LOCK TABLE configurations IN ACCESS EXCLUSIVE MODE")
            fill = asyncio.ensure_future(reads.configuration(configuration["id"]))
            await asyncio.sleep(0.2)
            reads.configuration_changed(configuration["id"], configuration["application_id"])
            blocker.rollback()
            assert await fill is not None
        finally:
            blocker.close()
        assert reads.size[0] == 0  # what the fill read may predate the change: not kept

    run(scenario())


def test_list_pages_are_dropped_when_any_application_or_configuration_changes(db, unique):
    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        reads.set_listening(True)
        for change in (
            announced("configuration", "0" * 26, "1" * 26),  # counts and latest changes show in lists
            announced("application", "0" * 26, "0" * 26),
        ):
            await reads.application_page(10, None)
            await reads.application_page(5, None, search="x")
            assert reads.size[0] == 2
            reads.apply([change])
            assert reads.size[0] == 0

    run(scenario())


def test_an_applications_configuration_pages_are_dropped_when_one_of_its_configurations_changes(db, unique):
    app = db.run_command(create_application, CreateApplication(unique("app")))
    other = db.run_command(create_application, CreateApplication(unique("other")))

    async def scenario():
        reads = ReadModel(db, max_bytes=1 << 20)
        reads.set_listening(True)
        await reads.configuration_page(app["id"], 10, None)
        await reads.configuration_page(other["id"], 10, None)
        reads.apply([announced("configuration", "0" * 26, app["id"])])
        assert reads.size[0] == 1
        assert await reads.configuration_page(other["id"], 10, None) is reads._held[f"p:{other['id']}:10::0"]

    run(scenario())


def test_held_views_stay_within_the_byte_bound(db, unique):
    app = db.run_command(create_application, CreateApplication(unique("app")))
    ids = [
        db.run_command(create_configuration, CreateConfiguration(app["id"], unique(), {"pad": "x" * 1000}))["id"]
        for _ in range(10)
    ]

    async def scenario():
        reads = ReadModel(db, max_bytes=5000)
        reads.set_listening(True)
        for id in ids:
            await reads.configuration(id)
        held, used = reads.size
        assert 0 < held < len(ids)
        assert used <= 5000

    run(scenario())
