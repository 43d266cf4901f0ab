"""A write of this instance reaches its read side at once (the bus hands over the committed
event), before the database's announcement comes; when the announcement came first, the
older news must not undo what followed it."""

import asyncio

from infra.events import Committed
from queries.announcements import committed_of
from queries.follow import ANNOUNCEMENTS_PER_TURN, ReadSide
from queries.snapshot import Snapshot
from queries.tokens import TokenTable
from tests.support import announcement

APP, CONFIG = "01M8A00000000000000000APP0", "01M8A00000000000000000CFG0"
ROW = {
    "id": CONFIG,
    "application_id": APP,
    "comments": None,
    "config": '{"k":"v"}',
    "version": 2,
    "release": "immediate",
    "live_version": 2,
    "created_at": "2026-11-28T00:00:00+00:00",
    "updated_at": "2026-11-28T00:00:01+00:00",
}


def announced(revision: int, name: str) -> Committed:
    return committed_of(announcement(revision, "configuration", CONFIG, APP, name, version=revision))


def written(revision: int, name: str) -> Committed:
    row = {**ROW, "name": name, "revision": revision}
    return Committed(revision, "configuration", "updated", CONFIG, APP, name, row)


def read_side(db) -> ReadSide:
    side = ReadSide(db, max_bytes=1 << 20, tokens=TokenTable())
    side.reads.resume(Snapshot(revision=100))  # listening, loaded, as of revision 100
    side.reads.directory.set_application(APP, "shop")
    side.reads.directory.set_configuration(CONFIG, APP, "old")
    return side


def test_a_write_already_announced_with_a_later_change_leaves_the_later_name(db):
    async def scenario():
        side = read_side(db)
        # This instance renamed it to "new" at 101; another renamed it back at 102; both
        # announcements arrived before this instance's write route got its answer.
        side.apply([announced(101, "new"), announced(102, "old")], announced=True)
        side.committed(written(101, "new"))
        assert side.reads.directory.configuration_id(APP, "old") == CONFIG
        assert side.reads.directory.configuration_id(APP, "new") is None

    asyncio.run(scenario())


def test_a_write_not_yet_announced_is_found_by_its_new_name_at_once_and_its_view_is_held(db):
    async def scenario():
        side = read_side(db)
        side.committed(written(101, "new"))
        assert side.reads.directory.configuration_id(APP, "new") == CONFIG
        held = await side.reads.configuration(CONFIG)  # no database read: the write's row is held
        assert (held.etag, held.revision) == ("101", 101)
        assert b'"name":"new"' in held.body
        side.apply([announced(101, "new")], announced=True)  # then its announcement: no change
        assert side.reads.directory.configuration_id(APP, "new") == CONFIG
        assert await side.reads.configuration(CONFIG) is held

    asyncio.run(scenario())


def test_an_older_write_never_replaces_a_newer_view(db):
    async def scenario():
        side = read_side(db)
        side.committed(written(102, "newer"))
        side.committed(written(101, "older"))  # answered later, though committed first
        assert (await side.reads.configuration(CONFIG)).revision == 102

    asyncio.run(scenario())


def test_a_schemas_change_leaves_every_name_and_view_as_it_was(db):
    """A schema's feed entry names its configuration (id, name); it changes neither."""

    async def scenario():
        side = read_side(db)
        side.feed.resume(Snapshot(revision=100))
        side.committed(written(101, "old"))
        held = await side.reads.configuration(CONFIG)
        for revision, action in ((102, "created"), (103, "deleted")):
            schema_change = announcement(revision, "schema", CONFIG, APP, "old", action=action)
            side.announced([schema_change.model_dump_json()])
        await asyncio.sleep(0)  # announcements are applied in the loop's next turn
        side.committed(Committed(104, "schema", "created", CONFIG, APP, "old", {"schema": "{}"}))
        assert side.reads.revision == 103  # followed, as every announced change
        assert side.reads.directory.configuration_id(APP, "old") == CONFIG
        assert await side.reads.configuration(CONFIG) is held
        assert [change.kind for change in side.feed._entries] == ["schema", "schema"]

    asyncio.run(scenario())


def test_a_burst_of_announcements_is_applied_in_order_a_few_hundred_a_turn(db):
    """The listener hands a burst over in many batches; the loop serves requests between the
    turns that apply them, and a change of listening state comes after what was heard before."""

    async def scenario():
        side = read_side(db)
        side.feed.resume(Snapshot(revision=100))
        count = 2 * ANNOUNCEMENTS_PER_TURN + 7
        payloads = [
            announcement(101 + n, "configuration", CONFIG, APP, f"name-{n}", version=101 + n).model_dump_json()
            for n in range(count)
        ]
        for start in range(0, count, 50):  # as the listener does: batch after batch
            side.announced(payloads[start : start + 50])
        assert side.reads.revision == 100  # nothing applied in the turn they came in
        seen = []
        while side.reads.revision < 100 + count:
            await asyncio.sleep(0)  # one turn
            seen.append(side.reads.revision)
        assert seen == [100 + ANNOUNCEMENTS_PER_TURN, 100 + 2 * ANNOUNCEMENTS_PER_TURN, 100 + count]
        assert [change.revision for change in side.feed._entries] == list(range(101, 101 + count))
        assert side.reads.directory.configuration_id(APP, f"name-{count - 1}") == CONFIG

        last = announcement(100 + count + 1, "configuration", CONFIG, APP, "last")
        side.announced([payloads[0], last.model_dump_json()])  # an old one (skipped) and a new one
        side.listening(False, None)  # what was heard before is applied first
        assert side.reads.revision == 100 + count + 1

    asyncio.run(scenario())
