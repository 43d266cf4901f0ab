"""A write of this instance tells its read model at once, before the database's announcement
comes; when the announcement came first, the older news must not undo what followed it."""

import asyncio

from api.services import Services
from queries.feed import ChangeFeed
from queries.read_model import ReadModel
from queries.snapshot import Snapshot
from queries.tokens import TokenTable
from queries.views import ChangeView
from tests.support import announcement

APP, CONFIG = "01M8A00000000000000000APP0", "01M8A00000000000000000CFG0"


def announced(revision: int, name: str) -> ChangeView:
    return announcement(revision, "configuration", CONFIG, APP, name, version=revision)


async def nothing() -> None:
    return None


def services(db) -> Services:
    reads = ReadModel(db, max_bytes=1 << 20)
    reads.resume(Snapshot(revision=100))  # listening, loaded, as of revision 100
    reads.directory.set_application(APP, "shop")
    reads.directory.set_configuration(CONFIG, APP, "old")
    return Services(db, reads, ChangeFeed(db), TokenTable(), nothing)


def test_a_write_already_announced_with_a_later_change_leaves_the_later_name(db):
    async def scenario():
        svc = services(db)
        # This instance renamed it to "new" at 101; another renamed it back at 102; both
        # announcements arrived before this instance's write route got its answer.
        svc.reads.apply([announced(101, "new"), announced(102, "old")])
        svc.written(101, CONFIG, "new", APP)
        assert svc.reads.directory.configuration_id(APP, "old") == CONFIG
        assert svc.reads.directory.configuration_id(APP, "new") is None

    asyncio.run(scenario())


def test_a_write_not_yet_announced_is_found_by_its_new_name_at_once(db):
    async def scenario():
        svc = services(db)
        svc.written(101, CONFIG, "new", APP)
        assert svc.reads.directory.configuration_id(APP, "new") == CONFIG
        svc.reads.apply([announced(101, "new")])  # then its announcement: no change
        assert svc.reads.directory.configuration_id(APP, "new") == CONFIG

    asyncio.run(scenario())
