"""The read side as the API sees it: each view as ready-to-send JSON bytes, held in memory.

Views (an application, a configuration, a page of the application list or of an
application's configurations) are filled on demand and kept in a size-bounded LRU, each with
its ETag. They are only kept while this instance LISTENs for
the database's change announcements (migrations/0002_announce_changes.sql): each
announcement drops the views it affects, and a write on this instance drops them at once,
before it answers. While not listening (at start, or after the listening connection
dropped), nothing is held and every read goes to the database, because this instance could
not know whether a held view is still current.

Everything here runs on the event loop thread, so it needs no locks.
"""

import asyncio
import hashlib
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from pydantic import BaseModel

from infra.database import Database
from queries.applications import get_application, list_applications
from queries.configurations import get_configuration, list_configurations
from queries.views import ChangeView, Page

# Rough per-entry bookkeeping cost (key, dict slot, objects), counted against the bound.
_ENTRY_OVERHEAD = 200
_PAGE = "l:"


class Entry(NamedTuple):
    """A held view: its JSON, its ETag, and for a list page the key the next page starts after."""

    body: bytes
    etag: str
    next_after: str | None = None


def digest(body: bytes) -> str:
    """The ETag of a view that has no revision of its own (a page): a digest of its bytes."""
    return hashlib.blake2b(body, digest_size=12).hexdigest()


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
        self.listening = False

    # -- reads ------------------------------------------------------------------------

    async def application(self, id: str) -> Entry | None:
        return await self._read("a:" + id, self._load_view, get_application, id)

    async def configuration(self, id: str) -> Entry | None:
        return await self._read("c:" + id, self._load_view, get_configuration, id)

    async def application_page(
        self, limit: int, after: str | None, offset: int = 0, search: str | None = None
    ) -> Entry:
        """A page of the application list as a JSON array."""
        key = f"{_PAGE}{limit}:{after or ''}:{offset}:{search or ''}"
        return await self._read(key, self._load_page, list_applications, limit, after, offset, search)

    async def configuration_page(
        self, application_id: str, limit: int, after: str | None, offset: int = 0
    ) -> Entry | None:
        """A page of an application's configurations; None if there is no such application."""
        key = f"p:{application_id}:{limit}:{after or ''}:{offset}"
        return await self._read(key, self._load_page, list_configurations, application_id, limit, after, offset)

    async def _load_view(self, query: Callable[..., BaseModel | None], id: str) -> Entry | None:
        view = await self._db.query(query, id)
        return None if view is None else Entry(view.model_dump_json().encode(), view.etag)

    async def _load_page(self, query: Callable[..., Page | None], *args: object) -> Entry | None:
        page = await self._db.query(query, *args)
        if page is None:
            return None
        body = b"[" + b",".join(item.model_dump_json().encode() for item in page.items) + b"]"
        return Entry(body, digest(body), page.next_after)

    async def _read(self, key: str, load: Callable[..., Awaitable[Entry | None]], *args: object) -> Entry | None:
        entry = self._held.get(key)
        if entry is not None:
            self._held.move_to_end(key)
            return entry
        if not self.listening:
            return await load(*args)
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
        self._forget(key)
        self._held[key] = entry
        self._bytes += len(entry.body) + _ENTRY_OVERHEAD
        if key.startswith(_PAGE):
            self._pages.add(key)
        elif key.startswith("p:"):
            self._configuration_pages[key.split(":", 2)[1]].add(key)
        while self._bytes > self.max_bytes and self._held:
            self._forget(next(iter(self._held)))

    # -- what changes it --------------------------------------------------------------

    def set_listening(self, listening: bool) -> None:
        """The listener started (True) or lost (False) its connection. Either way, what is
        held may have missed announcements: drop it all."""
        self._clear()
        self.listening = listening and self.max_bytes > 0

    def apply(self, changes: list[ChangeView]) -> None:
        """Changes announced by the database (made here, on another instance, or in psql)."""
        for change in changes:
            if change.kind == "configuration":
                self.configuration_changed(change.id, change.application_id)
            else:
                self.application_changed(change.id)

    def application_changed(self, id: str) -> None:
        """The application changed (here or elsewhere): later reads must see it."""
        self._forget("a:" + id)
        self._forget_configuration_pages(id)
        self._forget_list_pages()

    def configuration_changed(self, id: str, application_id: str) -> None:
        """The configuration changed, and with it its application's view and pages."""
        self._forget("c:" + id)
        self._forget("a:" + application_id)
        self._forget_configuration_pages(application_id)
        self._forget_list_pages()

    def _forget_list_pages(self) -> None:
        # Any application may show on any page, with its configurations' count and latest change.
        for key in [*self._pages, *(key for key in self._fills if key.startswith(_PAGE))]:
            self._forget(key)

    def _forget_configuration_pages(self, application_id: str) -> None:
        prefix = f"p:{application_id}:"
        for key in [
            *self._configuration_pages.pop(application_id, ()),
            *(k for k in self._fills if k.startswith(prefix)),
        ]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        self._fills.pop(key, None)
        entry = self._held.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body) + _ENTRY_OVERHEAD
            if key.startswith(_PAGE):
                self._pages.discard(key)
            elif key.startswith("p:"):
                self._configuration_pages.get(key.split(":", 2)[1], set()).discard(key)

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
