"""A page of the feed for a token limited to many applications costs about what the page
costs, not what all their held changes cost (they used to be gathered and sorted for every
page). Work is counted, not timed: how many times the page looks at the token's
applications (a membership test or a step through them), against the page's own size."""

import asyncio
import random

import pytest

from queries.feed import ChangeFeed
from queries.snapshot import Snapshot
from queries.views import ChangeView
from tests.support import announcement

FLOOR = 10**9  # revisions after every real one: these pages come from memory only


class CountingApplications(frozenset):
    """A token's applications that count how often they are consulted."""

    looked_at = 0

    def __contains__(self, item: object) -> bool:
        type(self).looked_at += 1
        return super().__contains__(item)

    def __iter__(self):
        for application_id in super().__iter__():
            type(self).looked_at += 1
            yield application_id


def application_ids(count: int, prefix: str = "01JDQ8ZJ1T2K5X1VJ4Q") -> list[str]:
    return [f"{prefix}{n:07d}" for n in range(count)]


def feed_of(changes: list[tuple[int, str]]) -> ChangeFeed:
    feed = ChangeFeed(db=None, max_entries=len(changes))  # never asked: every page is held
    feed.resume(Snapshot(revision=FLOOR))
    feed.extend([announcement(revision, "application", app, app) for revision, app in changes])
    return feed


def page(feed: ChangeFeed, after: int, limit: int, applications) -> list[ChangeView]:
    return asyncio.run(feed.read(after, limit, applications=applications))


def expected(changes: list[tuple[int, str]], after: int, limit: int, applications) -> list[int]:
    return [revision for revision, app in changes if revision > after and app in applications][:limit]


@pytest.fixture(autouse=True)
def _count_from_zero():
    CountingApplications.looked_at = 0


def test_a_page_for_a_thousand_applications_looks_at_them_about_a_page_worth(monkeypatch):
    apps = application_ids(1000)
    rng = random.Random(16)
    # 30 changes each, in random order, and a fifth of the feed from applications it cannot see.
    owners = [app for app in apps for _ in range(30)] + application_ids(250, "01JDQ8ZJ1T2K5X1VJ4R") * 30
    rng.shuffle(owners)
    changes = [(FLOOR + 1 + n, app) for n, app in enumerate(owners)]
    feed = feed_of(changes)
    limited = CountingApplications(apps)

    unlimited = page(feed, FLOOR, 100, None)
    assert len(unlimited) == 100
    for after in (FLOOR, FLOOR + 15_000, FLOOR + 30_000):
        CountingApplications.looked_at = 0
        got = page(feed, after, 100, limited)
        # An unlimited page looks at 100 entries; this one at most twice as many.
        assert CountingApplications.looked_at <= 2 * 100, CountingApplications.looked_at
        assert [c.revision for c in got] == expected(changes, after, 100, limited)


@pytest.mark.parametrize("share", [0.001, 0.05, 0.5])
def test_pages_are_right_however_rare_the_tokens_applications_are(share):
    rng = random.Random(int(share * 1000))
    apps = application_ids(1000)
    noisy = "01JDQ8ZJ1T2K5X1VJ4S0000000"
    changes = [(FLOOR + 1 + n, rng.choice(apps) if rng.random() < share else noisy) for n in range(30_000)]
    feed = feed_of(changes)
    limited = frozenset(apps[:700])
    after = FLOOR
    while True:  # every page, following each one's last revision
        got = [c.revision for c in page(feed, after, 100, limited)]
        assert got == expected(changes, after, 100, limited)
        if len(got) < 100:
            break
        after = got[-1]
