"""The change feed as readers see it: its recent tail held in memory, and readers waiting for
what comes next.

The database announces each change with its feed entry, in commit order, which is revision
order (migrations/0003). While this instance listens, it holds every entry after `floor`
(the latest revision when listening began, then the oldest it let go of), so a page after
any revision from `floor` on is answered from memory, and a change wakes the waiting readers
without a database round trip. A page from before `floor`, or read while not listening, comes
from the database (a replica that shows what this instance has shown, else the primary:
queries/sources.py). A waiting reader holds no connection and no worker: only a future here.

Everything here runs on the event loop thread.
"""

import asyncio
import bisect
import contextlib
import heapq
import itertools
import time

from infra.database import Database, DatabaseUnavailable, Overloaded
from infra.peers import Peers
from queries.changes import latest_revision, list_changes
from queries.held import HeldRequests
from queries.snapshot import Gap, Snapshot
from queries.sources import FEED, ReadSources
from queries.views import ChangeView

# While not listening, nothing announces changes: one task per instance looks for a new
# revision this often, and wakes the waiting readers when there is one.
POLL_WHILE_DEAF = 0.5
# A page for a token limited to some applications: entries looked at in revision order beyond
# the page's size and the number of applications, before merging (see _limited_page).
SCAN_SLACK = 64


class ChangeFeed:
    def __init__(
        self,
        db: Database,
        max_entries: int = 10_000,
        held: HeldRequests | None = None,
        peers: Peers | None = None,
        sources: ReadSources | None = None,
    ) -> None:
        self._db = db
        self._sources = sources or ReadSources(db)  # pages not held may come from a replica
        self._held = held or HeldRequests()  # counted once a read waits, until it answers
        self._peers = peers  # the other workers of this service, if any (infra/peers.py)
        self.waiting = 0  # readers held for the next change now (a metric)
        self._max_entries = max_entries
        self._entries: list[ChangeView] = []
        self._revisions: list[int] = []  # of _entries, for bisection
        # The same revisions by application: a token limited to a few finds its page without
        # scanning every other application's changes.
        self._by_application: dict[str, list[int]] = {}
        self.floor: int | None = None  # every change after it is held; None: not listening
        self._paused_floor: int | None = None
        self._written = 0  # the latest revision this instance's own writes committed
        self._next = asyncio.Event()  # set (and replaced) when a change arrives
        self._ending = False  # shutting down: waits end at once
        self._deaf_poll: asyncio.Task | None = None

    # -- what feeds it ----------------------------------------------------------------

    def pause(self) -> None:
        """The listener lost its connection: answer from the database until it is back."""
        self._paused_floor, self.floor = self.floor, None
        self._wake()

    def resume(self, caught_up: Snapshot | Gap) -> None:
        """Listening again: after a short gap, what was missed extends what is held."""
        newest = self._revisions[-1] if self._revisions else self._paused_floor
        if isinstance(caught_up, Gap) and newest is not None and caught_up.since == newest:
            self.floor = self._paused_floor
            self.extend(caught_up.changes)
        else:
            self._entries.clear()
            self._revisions.clear()
            self._by_application.clear()
            self.floor = caught_up.revision
        self._wake()

    def extend(self, changes: list[ChangeView]) -> None:
        """Announced changes, in revision order."""
        if self.floor is None:
            return
        newest = self._revisions[-1] if self._revisions else self.floor
        fresh = [change for change in changes if change.revision > newest]
        if not fresh:
            return
        self._entries += fresh
        self._revisions += [change.revision for change in fresh]
        if len(self._entries) > 2 * self._max_entries:  # trim in steps, not at every entry
            cut = len(self._entries) - self._max_entries
            self.floor = self._revisions[cut - 1]
            del self._entries[:cut], self._revisions[:cut]
            self._by_application.clear()
            fresh = self._entries
        for change in fresh:
            self._by_application.setdefault(change.application_id, []).append(change.revision)
        self._wake()

    def end_waits(self) -> None:
        """Shutting down: every waiting reader is answered now, as if its time had passed."""
        self._ending = True
        self._wake()
        if self._deaf_poll is not None:
            self._deaf_poll.cancel()

    def written(self, revision: int) -> None:
        """A write of this instance committed `revision`: later reads here must show it."""
        self._written = max(self._written, revision)

    def _wake(self) -> None:
        self._next.set()
        self._next = asyncio.Event()

    async def _poll_while_deaf(self) -> None:
        """Until listening again: one small read every POLL_WHILE_DEAF seconds, for the whole
        instance, rather than one per waiting reader. A new revision wakes them all; so does
        the first read, for a change made between a reader's own read and it."""
        seen = None
        while self.floor is None and not self._ending:
            try:
                latest = await self._db.query(latest_revision)
            except (DatabaseUnavailable, Overloaded):
                latest = seen  # the waiting readers' own reads will say so
            if latest != seen:
                self._wake()
            seen = latest
            await asyncio.sleep(POLL_WHILE_DEAF)

    # -- reads ------------------------------------------------------------------------

    async def read(
        self, after: int, limit: int, wait: float | None = None, applications: frozenset[str] | None = None
    ) -> list[ChangeView]:
        """Up to `limit` changes after revision `after`, oldest first; with `applications`,
        only theirs. With `wait`, when there are none yet, hold until one arrives or `wait`
        seconds pass (then []); TooManyHeld when this instance holds as many as it may."""
        deadline = time.monotonic() + (wait or 0)
        holding = False
        try:
            while True:
                next_change = self._next  # taken first: a change during the read is not missed
                changes = self._held_after(after, limit, applications)
                if changes is None:
                    changes = await self._sources.query(FEED, list_changes, after, limit, applications)
                remaining = deadline - time.monotonic()
                if changes or remaining <= 0 or self._ending:
                    return changes
                if not holding:
                    self._held.take()
                    holding = True
                if self.floor is None and (self._deaf_poll is None or self._deaf_poll.done()):
                    self._deaf_poll = asyncio.get_running_loop().create_task(self._poll_while_deaf())
                self.waiting += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(next_change.wait(), remaining)
                finally:
                    self.waiting -= 1
        finally:
            if holding:
                self._held.release()

    def _held_after(self, after: int, limit: int, applications: frozenset[str] | None) -> list[ChangeView] | None:
        """The page from memory, or None when memory cannot answer for all of it."""
        if self.floor is None or after < self.floor:
            return None
        written = self._written if self._peers is None else max(self._written, self._peers.newest_of_others())
        if written > (self._revisions[-1] if self._revisions else self.floor):
            return None  # this worker's own write (or another's) is not announced yet: the database knows
        start = bisect.bisect_right(self._revisions, after)
        if applications is None:
            return self._entries[start : start + limit]
        return self._limited_page(start, limit, applications)

    def _limited_page(self, start: int, limit: int, applications: frozenset[str]) -> list[ChangeView]:
        """The page from `start` of the changes of `applications`, for about what the page costs
        however many applications there are (not a sort of all their held changes). First the
        entries in revision order, as an unlimited page is read, until the page is full: where
        these applications make up a fair part of the feed, that is all. Else, past as many
        entries as merging would cost (one step per application), each application's own
        revisions, merged in order only as far as the page needs."""
        end = min(len(self._entries), start + limit + SCAN_SLACK + len(applications))
        in_order = map(self._entries.__getitem__, range(start, end))
        page = list(itertools.islice((e for e in in_order if e.application_id in applications), limit))
        if len(page) == limit or end == len(self._entries):
            return page
        scanned = self._revisions[end - 1]
        sources = []
        for application_id in applications:
            held = self._by_application.get(application_id)
            if held and held[-1] > scanned:
                sources.append(map(held.__getitem__, range(bisect.bisect_right(held, scanned), len(held))))
        for revision in itertools.islice(heapq.merge(*sources), limit - len(page)):
            page.append(self._entries[bisect.bisect_left(self._revisions, revision)])
        return page
