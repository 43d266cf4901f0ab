"""The change feed's tail in memory: what it answers from memory, what it leaves to the
database, and readers waiting for the next change. Nothing listens here: the tests hand it
announcements as the listener would."""

import asyncio
import time
from types import SimpleNamespace

import pytest

from commands.applications import CreateApplication
from queries.changes import latest_revision
from queries.feed import ChangeFeed
from queries.snapshot import Gap, Snapshot
from queries.views import ChangeView
from tests.support import announcement, perform

APP = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"


def change(revision: int, name: str = "n", application_id: str = APP) -> ChangeView:
    return announcement(revision, "application", application_id, application_id, name, action="created")


@pytest.fixture
def latest(db, unique) -> int:
    perform(db, CreateApplication(unique()))
    return db.run_query(latest_revision)


def test_while_listening_the_tail_comes_from_memory_and_older_pages_from_the_database(db, latest):
    async def scenario():
        feed = ChangeFeed(db)
        feed.resume(Snapshot(revision=latest))
        # Revisions the database has never seen: only memory can answer with them.
        feed.extend([change(latest + 1, "held"), change(latest + 2, "held")])

        assert [c.name for c in await feed.read(latest, 10)] == ["held", "held"]
        assert [c.revision for c in await feed.read(latest + 1, 10)] == [latest + 2]
        assert await feed.read(latest + 2, 10) == []
        older = await feed.read(latest - 1, 10)  # before the floor: the database's
        assert [c.revision for c in older] == [latest]

    asyncio.run(scenario())


def test_announcements_from_before_listening_began_are_ignored(db, latest):
    async def scenario():
        feed = ChangeFeed(db)
        feed.resume(Snapshot(revision=latest))
        feed.extend([change(latest, "already stored"), change(latest + 1, "new")])
        assert [c.name for c in await feed.read(latest, 10)] == ["new"]

    asyncio.run(scenario())


def test_not_listening_every_page_comes_from_the_database(db, latest):
    async def scenario():
        feed = ChangeFeed(db)
        feed.extend([change(latest + 1)])  # unheard: nothing is held while not listening
        assert [c.revision for c in await feed.read(latest - 1, 10)] == [latest]
        assert await feed.read(latest, 10) == []

    asyncio.run(scenario())


def test_a_write_of_this_instance_not_yet_announced_is_read_from_the_database(db, latest, unique):
    async def scenario():
        feed = ChangeFeed(db)
        feed.resume(Snapshot(revision=latest))
        row = perform(db, CreateApplication(unique("mine")))
        feed.written(row["revision"])
        assert [c.id for c in await feed.read(latest, 10)] == [row["id"]]

    asyncio.run(scenario())


def test_a_waiting_reader_is_answered_when_a_change_arrives(db, latest):
    async def scenario():
        feed = ChangeFeed(db)
        feed.resume(Snapshot(revision=latest))
        waiting = asyncio.ensure_future(feed.read(latest, 10, wait=30))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        started = time.monotonic()
        feed.extend([change(latest + 1, "awaited")])
        changes = await waiting
        assert [c.name for c in changes] == ["awaited"]
        assert time.monotonic() - started < 0.5

    asyncio.run(scenario())


def test_a_waiting_reader_gets_nothing_when_its_time_passes(db, latest):
    async def scenario():
        feed = ChangeFeed(db)
        feed.resume(Snapshot(revision=latest))
        started = time.monotonic()
        assert await feed.read(latest, 10, wait=1) == []
        assert 0.9 < time.monotonic() - started < 2

    asyncio.run(scenario())


def test_memory_keeps_a_bounded_tail_and_moves_its_floor(db, latest):
    async def scenario():
        feed = ChangeFeed(db, max_entries=5)
        feed.resume(Snapshot(revision=latest))
        feed.extend([change(latest + n) for n in range(1, 12)])
        assert feed.floor > latest
        tail = await feed.read(feed.floor, 100)
        assert [c.revision for c in tail] == list(range(feed.floor + 1, latest + 12))
        assert len(tail) <= 10

    asyncio.run(scenario())


def test_after_a_short_gap_the_missed_changes_extend_what_is_held(db, latest):
    async def scenario():
        feed = ChangeFeed(db)
        feed.resume(Snapshot(revision=latest))
        feed.extend([change(latest + 1, "before")])
        feed.pause()
        assert feed.floor is None  # not following: pages come from the database
        feed.resume(
            Gap(since=latest + 1, revision=latest + 3, changes=[change(latest + 2, "gap"), change(latest + 3, "gap")])
        )
        assert [c.name for c in await feed.read(latest, 10)] == ["before", "gap", "gap"]

    asyncio.run(scenario())


def test_a_limited_readers_page_holds_only_its_applications_changes_in_revision_order(db, latest):
    mine, also_mine, theirs = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3MA", "01JDQ8ZJ1T2K5X1VJ4Q6M2N3MB", "01JDQ8ZJ1T2K5X1VJ4Q6M2N3TH"
    owners = [mine, theirs, also_mine, theirs, theirs, mine, also_mine, theirs, mine, theirs, mine, theirs, theirs]
    limit = frozenset({mine, also_mine})

    async def scenario():
        feed = ChangeFeed(db, max_entries=4)  # so that the tail is trimmed on the way
        feed.resume(Snapshot(revision=latest))
        for n, owner in enumerate(owners, 1):
            feed.extend([change(latest + n, application_id=owner)])
        assert feed.floor > latest
        after = feed.floor
        expected = [latest + n for n, owner in enumerate(owners, 1) if owner in limit and latest + n > after]
        assert expected  # the page is not empty by construction
        page = await feed.read(after, 100, applications=limit)
        assert [c.revision for c in page] == expected
        assert all(c.application_id in limit for c in page)
        assert [c.revision for c in await feed.read(after, 1, applications=limit)] == expected[:1]
        assert await feed.read(after, 100, applications=frozenset({"01JDQ8ZJ1T2K5X1VJ4Q6M2N3NO"})) == []

    asyncio.run(scenario())


def test_not_listening_waiting_readers_are_woken_by_one_poll_for_the_instance(db, latest, unique):
    async def scenario():
        queries = 0

        async def counted(*args):
            nonlocal queries
            queries += 1
            return await db.query(*args)

        feed = ChangeFeed(SimpleNamespace(query=counted))  # not listening: nothing announces changes
        readers = [asyncio.ensure_future(feed.read(latest, 10, wait=10)) for _ in range(50)]
        await asyncio.sleep(1.2)  # a few polls' time: the readers wait, the poller looks
        assert not any(reader.done() for reader in readers)
        polled = queries - 50 * 2  # each reader read once, and once more at the poller's first look
        assert 0 < polled <= 4

        await asyncio.to_thread(perform, db, CreateApplication(unique()))
        pages = await asyncio.wait_for(asyncio.gather(*readers), 2)
        assert all([c.revision for c in page] == [latest + 1] for page in pages)
        feed.end_waits()

    asyncio.run(scenario())
