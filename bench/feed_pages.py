"""A page of the change feed from memory, for an unlimited token and for one limited to 1,000
applications: what the route does (the page, then its JSON), in-process, so that the figure
is the feed's own cost and not HTTP's. `python -c "from bench.feed_pages import measure; print(measure())"`
runs it alone."""

import asyncio
import random
import statistics
import time

from pydantic import TypeAdapter

from queries.feed import ChangeFeed
from queries.snapshot import Snapshot
from queries.views import ChangeView

APPLICATIONS, CHANGES_EACH, OTHERS, LIMIT, ROUNDS = 1000, 10, 250, 100, 2000
FLOOR = 1
_PAGE = TypeAdapter(list[ChangeView])


def _feed() -> tuple[ChangeFeed, frozenset[str], list[int]]:
    rng = random.Random(16)
    mine = [f"01JDQ8ZJ1T2K5X1VJ4Q{n:07d}" for n in range(APPLICATIONS)]
    others = [f"01JDQ8ZJ1T2K5X1VJ4R{n:07d}" for n in range(OTHERS)]
    owners = mine * CHANGES_EACH + others * CHANGES_EACH
    rng.shuffle(owners)
    changes = [
        ChangeView(
            revision=FLOOR + 1 + n,
            at="2026-11-28T00:00:00Z",
            actor="bench",
            request_id=None,
            action="updated",
            kind="configuration",
            id=f"01JDQ8ZJ1T2K5X1VJ4T{n:07d}",
            application_id=owner,
            name="production",
            version=n,
        )
        for n, owner in enumerate(owners)
    ]
    feed = ChangeFeed(db=None, max_entries=len(changes))  # every page here is held: no database
    feed.resume(Snapshot(revision=FLOOR))
    feed.extend(changes)
    afters = [rng.randrange(FLOOR, FLOOR + len(changes) // 2) for _ in range(ROUNDS)]
    return feed, frozenset(mine), afters


def measure() -> dict:
    """Median microseconds of a page of 100 (read and rendered as JSON), unlimited and limited
    to 1,000 applications, and their ratio."""
    feed, limited, afters = _feed()

    async def page_us(after: int, applications: frozenset[str] | None) -> float:
        started = time.perf_counter()
        _PAGE.dump_json(await feed.read(after, LIMIT, applications=applications))
        return (time.perf_counter() - started) * 1e6

    async def both() -> tuple[float, float]:
        unlimited, limited_ = [], []
        for after in afters:  # interleaved: a busy moment of the machine costs both alike
            unlimited.append(await page_us(after, None))
            limited_.append(await page_us(after, limited))
        return statistics.median(unlimited), statistics.median(limited_)

    unlimited, limited_us = asyncio.run(both())
    return {"unlimited_us": unlimited, "limited_us": limited_us, "ratio": limited_us / unlimited}
