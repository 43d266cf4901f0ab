"""The bound on held requests: watches and feed waits share it; past it a new wait is refused
(TooManyHeld) at once, while reads that need no wait are answered; an answered wait frees
its place."""

import asyncio

import pytest

from commands.applications import CreateApplication
from queries.changes import latest_revision
from queries.feed import ChangeFeed
from queries.held import HeldRequests, TooManyHeld
from queries.snapshot import Snapshot
from queries.watchers import Watchers
from tests.support import announcement, perform

APP = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"


@pytest.fixture
def latest(db, unique) -> int:
    perform(db, CreateApplication(unique()))
    return db.run_query(latest_revision)


def test_watches_and_feed_waits_share_the_bound_and_free_their_places(db, latest):
    async def scenario():
        held = HeldRequests(limit=2)
        feed = ChangeFeed(db, held=held)
        feed.resume(Snapshot(revision=latest))
        watchers = Watchers(held)

        async def unchanged():
            return "same"

        watch = asyncio.ensure_future(watchers.watch(lambda: APP, unchanged, lambda a: False, 30))
        wait = asyncio.ensure_future(feed.read(latest, 10, wait=30))
        await asyncio.sleep(0.05)
        assert held.count == 2 and not watch.done() and not wait.done()

        with pytest.raises(TooManyHeld):
            await feed.read(latest, 10, wait=30)
        with pytest.raises(TooManyHeld):
            await watchers.watch(lambda: APP, unchanged, lambda a: False, 30)
        # What needs no wait is answered still.
        assert await feed.read(latest - 1, 10, wait=30) != []
        assert await watchers.watch(lambda: APP, unchanged, lambda a: True, 30) == "same"
        assert held.count == 2

        feed.extend([announcement(latest + 1, "application", APP, APP)])
        watchers.wake(APP)
        await asyncio.sleep(0.05)
        assert not watch.done()  # woken, read again, unchanged: waits on, in the same place
        assert [c.revision for c in await wait] == [latest + 1]
        assert held.count == 1
        again = asyncio.ensure_future(feed.read(latest + 1, 10, wait=30))  # its place is free
        await asyncio.sleep(0.05)
        assert held.count == 2 and not again.done()
        watchers.end()
        feed.end_waits()
        assert await watch == "same" and await again == []
        assert held.count == 0

    asyncio.run(scenario())


def test_a_wait_that_ends_by_its_time_or_a_failed_read_frees_its_place(db, latest):
    async def scenario():
        held = HeldRequests(limit=1)
        watchers = Watchers(held)
        reads = 0

        async def failing_second_time():
            nonlocal reads
            reads += 1
            if reads > 1:
                raise RuntimeError("the database went away")
            return "first"

        watch = asyncio.ensure_future(watchers.watch(lambda: APP, failing_second_time, lambda a: False, 30))
        await asyncio.sleep(0.05)
        watchers.wake(APP)
        with pytest.raises(RuntimeError):
            await watch
        assert held.count == 0
        feed = ChangeFeed(db, held=held)
        feed.resume(Snapshot(revision=latest))
        assert await feed.read(latest, 10, wait=1) == []
        assert held.count == 0

    asyncio.run(scenario())
