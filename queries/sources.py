"""Where the read side's database reads go: the reads a replica may serve (infra/replicas.py),
each of one kind, and what each must see.

A replica may serve the pages of lists (applications, an application's configurations,
rollouts, the fleet view: LIST), history (a configuration's versions and its schema's:
HISTORY) and the change feed's pages that memory cannot answer (FEED); the bulk load at start
(SNAPSHOT) and the resync after a gap (GAP) are read by the listener (queries/snapshot.py).
Every other read (a view by id the read model does not hold, a read by name, the views an
announcement touched, tokens) stays on the primary, as do writes.

What a read must see (`shown`, queries/follow.py): every revision this instance has shown or
written, and its other workers have written. So a read right after this instance's own write
sees it (read-your-writes), a page never goes back behind what the instance already served,
and a page the read model keeps is as current as what it follows (a change it applies after
the read began voids the page: queries/held_views.py).
"""

from collections.abc import Callable
from typing import Any, TypeVar

from infra import metrics
from infra.database import Database
from infra.replicas import PRIMARY, Replicas

T = TypeVar("T")

# The kinds of reads a replica may serve (the metrics' labels).
SNAPSHOT, GAP, HISTORY, FEED, LIST = "snapshot", "gap", "history", "feed", "list"


class ReadSources:
    def __init__(self, db: Database, replicas: Replicas | None = None, shown: Callable[[], int] = lambda: 0) -> None:
        self._db = db
        self.replicas = replicas if replicas else None  # None: every read is the primary's
        self._shown = shown

    async def query(self, kind: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(cur, *args)`, on a replica that shows what this instance has shown, else on the
        primary."""
        if self.replicas is None:
            result = await self._db.query(fn, *args)
            metrics.read_served(kind, PRIMARY)
            return result
        return await self.replicas.query(kind, self._shown(), fn, *args)
