"""The read side as the API sees it: each view as ready-to-send JSON bytes, held in memory.

Views (an application, a configuration, an application's bundle, a page of a list) are kept
in a size-bounded LRU, each with its ETag, and the names of every application and
configuration in a `Directory`. The database announces each change (migrations/0003); the
read model follows them in revision order, dropping the views a change affects, and a write
on this instance drops them at once, before it answers.

- At start, when the listener first connects, everything is read in bulk at one revision
  (queries/snapshot.py): names, and views up to the bound. Until then the instance is not
  healthy.
- While listening ("live"), what is held is current; what is not is read from the database
  (one query per view however many readers ask) and kept.
- When the listener loses its connection (the database is away, or the network blinked),
  held views may miss changes: every route reads the database, except the client path
  (`configuration_by_name`, `bundle`), which keeps answering what is held, marked stale.
  When the listener is back, the changes of the gap are replayed from the change feed, so
  only what changed is dropped.

Everything here runs on the event loop thread, so it needs no locks.
"""

import asyncio
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from psycopg2.extensions import connection as Connection
from pydantic import BaseModel

from infra.database import Database
from queries.applications import get_application, list_applications
from queries.by_name import Missing, bundle_by_id, bundle_by_name, configuration_by_name
from queries.configurations import get_configuration, list_configurations
from queries.directory import Directory
from queries.snapshot import ENTRY_OVERHEAD, Gap, Snapshot, catch_up
from queries.views import ChangeView, ConfigurationView, Page, digest, render_bundle

log = logging.getLogger(__name__)

_PAGE = "l:"


class Entry(NamedTuple):
    """A held view: its JSON, its ETag, the application it belongs to (what a token limited to
    some applications may see), and for a list page the key the next page starts after."""

    body: bytes
    etag: str
    application_id: str | None = None
    next_after: str | None = None


class ClientRead(NamedTuple):
    """An answer of the client path: the view, or what was missing; and whether it may be stale."""

    found: Entry | Missing
    stale: bool


class ReadModel:
    def __init__(self, db: Database, max_bytes: int) -> None:
        self._db = db
        self.max_bytes = max_bytes
        self._held: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        # Fills in flight, by key. Readers of a key that is being filled wait for that fill
        # (one query, however many readers); a change to the key removes it from here, so
        # that the fill, which may have read the old state, is neither kept nor joined.
        self._fills: dict[str, asyncio.Future] = {}
        self._pages: set[str] = set()  # keys of held pages of the application list
        # Keys of held pages of each application's configuration list.
        self._configuration_pages: defaultdict[str, set[str]] = defaultdict(set)
        self.directory = Directory()
        self.listening = False  # following the announcements: what is held is current
        self.loaded = False  # a snapshot was loaded: the directory knows every name
        self.revision: int | None = None  # the latest change followed
        self.ready = asyncio.Event()  # set once the first snapshot is loaded
        # Watchers of each application's views, woken when any of them changes: a future
        # each (a watch holds nothing else, so that one instance holds ten thousand).
        self._watchers: dict[str, set[asyncio.Future]] = {}
        self._ending = False  # shutting down: watches answer at once

    @property
    def state(self) -> str:
        if not self.loaded:
            return "loading"
        return "live" if self.listening else "stale"

    # -- following the database -------------------------------------------------------

    def catch_up(self, conn: Connection) -> Snapshot | Gap:
        """What to read when listening (re)starts. Runs in the listener's thread, before any
        announcement made after it is handed over. It reads `revision` while the loop may still
        be applying earlier announcements: then the gap starts a little early, which only
        replays more (and the feed reloads its tail), never less."""
        return catch_up(conn, self.revision if self.loaded else None, self.max_bytes)

    def resume(self, caught_up: Snapshot | Gap) -> None:
        """Listening again, with what `catch_up` read."""
        if isinstance(caught_up, Snapshot):
            self._install(caught_up)
        else:
            self.apply(caught_up.changes)
            self.revision = max(self.revision or 0, caught_up.revision)
        self.listening = True
        self._wake_all()  # watchers of what changed meanwhile look again

    def pause(self) -> None:
        """The listener lost its connection: keep what is held, but it may go stale."""
        self.listening = False
        self._fills.clear()  # what is being read now is kept by no one

    def apply(self, changes: list[ChangeView]) -> None:
        """Changes announced by the database (made here, on another instance, or in psql)."""
        for change in changes:
            if self.revision is not None and change.revision <= self.revision:
                continue  # already read in the snapshot, or replayed from the gap
            self.revision = change.revision
            self.directory.apply(change)
            if change.kind == "configuration":
                self.configuration_changed(change.id, change.application_id)
            else:
                self.application_changed(change.id)

    def forget_views(self) -> None:
        """Something was announced that cannot be followed: no view held can be trusted."""
        self._clear()

    def _install(self, snapshot: Snapshot) -> None:
        self._clear()
        self.directory.clear()
        for id, name in snapshot.applications:
            self.directory.set_application(id, name)
        for id, application_id, name in snapshot.configurations:
            self.directory.set_configuration(id, application_id, name)
        for key, body, etag, application_id in snapshot.views:
            self._keep(key, Entry(body, etag, application_id))
        self.revision = snapshot.revision
        self.loaded = True
        self.ready.set()
        log.info(
            "read model: %d names and %d views (%.1f MB%s) at revision %d, read in %.2fs",
            len(self.directory),
            len(self._held),
            self._bytes / 1e6,
            "" if snapshot.complete else ", as many as READ_CACHE_MAX_BYTES allows",
            snapshot.revision,
            snapshot.seconds,
        )

    # -- what a write on this instance changed ------------------------------------------

    def application_changed(self, id: str, name: str | None = None, deleted: bool = False) -> None:
        """The application changed (here or elsewhere): later reads must see it."""
        if deleted:
            self.directory.remove_application(id)
        elif name is not None:
            self.directory.set_application(id, name)
        self._forget("a:" + id)
        self._forget("b:" + id)
        self._forget_configuration_pages(id)
        self._forget_list_pages()
        self._wake(id)

    def configuration_changed(
        self, id: str, application_id: str, name: str | None = None, deleted: bool = False
    ) -> None:
        """The configuration changed, and with it its application's views and pages."""
        if deleted:
            self.directory.remove_configuration(id)
        elif name is not None:
            self.directory.set_configuration(id, application_id, name)
        self._forget("c:" + id)
        self._forget("a:" + application_id)
        self._forget("b:" + application_id)
        self._forget_configuration_pages(application_id)
        self._forget_list_pages()
        self._wake(application_id)

    # -- reads by id ----------------------------------------------------------------------

    async def application(self, id: str) -> Entry | None:
        return await self._read("a:" + id, self._load_view, get_application, id)

    async def configuration(self, id: str) -> Entry | None:
        return await self._read("c:" + id, self._load_view, get_configuration, id)

    async def application_page(
        self,
        limit: int,
        after: str | None,
        offset: int = 0,
        search: str | None = None,
        applications: tuple[str, ...] | None = None,
    ) -> Entry:
        """A page of the application list as a JSON array (of `applications` only, if given)."""
        among = "*" if applications is None else digest(",".join(applications).encode())
        key = f"{_PAGE}{limit}:{after or ''}:{offset}:{among}:{search or ''}"
        return await self._read(key, self._load_page, list_applications, limit, after, offset, search, applications)

    async def configuration_page(
        self, application_id: str, limit: int, after: str | None, offset: int = 0
    ) -> Entry | None:
        """A page of an application's configurations; None if there is no such application."""
        key = f"p:{application_id}:{limit}:{after or ''}:{offset}"
        return await self._read(key, self._load_page, list_configurations, application_id, limit, after, offset)

    # -- the client path: by name, and served stale rather than not at all --------------

    async def configuration_by_name(self, application: str, name: str) -> ClientRead:
        stale = not self.listening
        application_id = self.directory.application_id(application) if self.loaded else None
        if application_id is not None:
            id = self.directory.configuration_id(application_id, name)
            if id is not None:
                entry = self._held_entry("c:" + id) if stale else None
                if entry is None:
                    entry = await self._read("c:" + id, self._load_view, get_configuration, id)
                if entry is not None:
                    return ClientRead(entry, stale)
            elif not stale:
                return ClientRead(Missing("configuration", application_id), stale)
        elif self.loaded and not stale:
            return ClientRead(Missing("application"), stale)
        # Not known here for certain: the database decides.
        found = await self._db.query(configuration_by_name, application, name)
        return ClientRead(_configuration_entry(found), stale)

    async def bundle(self, application: str) -> ClientRead:
        """The application (its id, name, comments, version) and all its configurations by name."""
        stale = not self.listening
        application_id = self.directory.application_id(application) if self.loaded else None
        if application_id is not None:
            entry = self._held_entry("b:" + application_id) if stale else None
            if entry is None:
                entry = await self._read("b:" + application_id, self._load_bundle, bundle_by_id, application_id)
            if entry is not None:
                return ClientRead(entry, stale)
        elif self.loaded and not stale:
            return ClientRead(Missing("application"), stale)
        entry = await self._load_bundle(bundle_by_name, application)
        return ClientRead(Missing("application") if entry is None else entry, stale)

    async def watch(
        self,
        application: str,
        read: Callable[[], Awaitable[ClientRead]],
        unchanged: Callable[[Entry], bool],
        seconds: float,
    ) -> ClientRead:
        """`read()` once what it finds is no longer `unchanged` (or is gone), or after `seconds`
        as it is. Waiting holds nothing but a future: no connection, no worker."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            # Registered before reading, so that a change during the read is not missed.
            key = self.directory.application_id(application) or ""
            wakeup = loop.create_future()
            self._watchers.setdefault(key, set()).add(wakeup)
            try:
                answer = await read()
                remaining = deadline - loop.time()
                if isinstance(answer.found, Missing) or not unchanged(answer.found) or remaining <= 0 or self._ending:
                    return answer
                timer = loop.call_later(remaining, _settle, wakeup, False)
                try:
                    changed = await wakeup
                finally:
                    timer.cancel()
                if not changed or self._ending:
                    return answer  # its time has passed: as it was, with no read that could fail
            finally:
                watchers = self._watchers.get(key)
                if watchers is not None:
                    watchers.discard(wakeup)
                    if not watchers:
                        del self._watchers[key]

    def end_watches(self) -> None:
        """Shutting down: every watch answers now, as if its time had passed."""
        self._ending = True
        self._wake_all()

    def _wake(self, application_id: str) -> None:
        for wakeup in self._watchers.pop(application_id, ()):
            _settle(wakeup)

    def _wake_all(self) -> None:
        watchers, self._watchers = self._watchers, {}
        for group in watchers.values():
            for wakeup in group:
                _settle(wakeup)

    # -- filling and holding --------------------------------------------------------------

    async def _load_view(self, query: Callable[..., BaseModel | None], id: str) -> Entry | None:
        view = await self._db.query(query, id)
        return None if view is None else _entry(view)

    async def _load_page(self, query: Callable[..., Page | None], *args: object) -> Entry | None:
        page = await self._db.query(query, *args)
        if page is None:
            return None
        body = b"[" + b",".join(item.model_dump_json().encode() for item in page.items) + b"]"
        return Entry(body, digest(body), next_after=page.next_after)

    async def _load_bundle(self, query: Callable, key: str) -> Entry | None:
        found = await self._db.query(query, key)
        if found is None:
            return None
        application, configurations = found
        body = render_bundle(
            application.model_dump_json().encode(), [view.model_dump_json().encode() for view in configurations]
        )
        return Entry(body, digest(body), application.id)

    def _held_entry(self, key: str) -> Entry | None:
        entry = self._held.get(key)
        if entry is not None:
            self._held.move_to_end(key)
        return entry

    async def _read(self, key: str, load: Callable[..., Awaitable[Entry | None]], *args: object) -> Entry | None:
        if not self.listening:
            return await load(*args)
        entry = self._held_entry(key)
        if entry is not None:
            return entry
        pending = self._fills.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fill = self._fills[key] = asyncio.get_running_loop().create_future()
        try:
            entry = await load(*args)
        except BaseException as exc:
            self._end_fill(key, fill)
            if isinstance(exc, asyncio.CancelledError):
                fill.cancel()
            else:
                fill.set_exception(exc)
                fill.exception()  # the joiners (if any) get it; nobody else needs to
            raise
        if self._end_fill(key, fill) and entry is not None and self.listening:
            self._keep(key, entry)
        fill.set_result(entry)
        return entry

    def _end_fill(self, key: str, fill: asyncio.Future) -> bool:
        """Whether the fill is still current (no change to its key since it began)."""
        if self._fills.get(key) is fill:
            del self._fills[key]
            return True
        return False

    def _keep(self, key: str, entry: Entry) -> None:
        if self.max_bytes <= 0:
            return
        self._forget(key)
        self._held[key] = entry
        self._bytes += len(entry.body) + ENTRY_OVERHEAD
        if key.startswith(_PAGE):
            self._pages.add(key)
        elif key.startswith("p:"):
            self._configuration_pages[key.split(":", 2)[1]].add(key)
        while self._bytes > self.max_bytes and self._held:
            self._forget(next(iter(self._held)))

    def _forget_configuration_pages(self, application_id: str) -> None:
        prefix = f"p:{application_id}:"
        keys = [*self._configuration_pages.pop(application_id, ()), *(k for k in self._fills if k.startswith(prefix))]
        for key in keys:
            self._forget(key)

    def _forget_list_pages(self) -> None:
        # Any application may show on any page, with its configurations' count and latest change.
        for key in [*self._pages, *(key for key in self._fills if key.startswith(_PAGE))]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        self._fills.pop(key, None)
        entry = self._held.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body) + ENTRY_OVERHEAD
            if key.startswith(_PAGE):
                self._pages.discard(key)
            elif key.startswith("p:"):
                application_id = key.split(":", 2)[1]
                pages = self._configuration_pages.get(application_id)
                if pages is not None:
                    pages.discard(key)
                    if not pages:
                        del self._configuration_pages[application_id]

    def _clear(self) -> None:
        self._fills.clear()
        self._held.clear()
        self._pages.clear()
        self._configuration_pages.clear()
        self._bytes = 0

    @property
    def size(self) -> tuple[int, int]:
        """(views held, bytes counted against the bound)"""
        return len(self._held), self._bytes


def _settle(wakeup: asyncio.Future, changed: bool = True) -> None:
    if not wakeup.done():
        wakeup.set_result(changed)


def _configuration_entry(found: ConfigurationView | Missing) -> Entry | Missing:
    return found if isinstance(found, Missing) else _entry(found)


def _entry(view: BaseModel) -> Entry:
    """A configuration's or an application's view as held."""
    application_id = getattr(view, "application_id", None) or view.id
    return Entry(view.model_dump_json().encode(), view.etag, application_id)
