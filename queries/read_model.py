"""The read side as the API sees it: each view as ready-to-send JSON bytes, held in memory.

Views (an application, a configuration, a page of the application list) are filled on
demand and kept in a size-bounded LRU. They are only kept while this instance LISTENs for
the database's change announcements (migrations/0002_announce_changes.sql): each
announcement drops the views it affects, and a write on this instance drops them at once,
before it answers. While not listening (at start, or after the listening connection
dropped), nothing is held and every read goes to the database, because this instance could
not know whether a held view is still current.

Everything here runs on the event loop thread, so it needs no locks.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, TypeAdapter

from infra.database import Database
from queries.applications import get_application, list_applications
from queries.configurations import get_configuration
from queries.views import ApplicationSummary

_SUMMARIES = TypeAdapter(list[ApplicationSummary])
# Rough per-entry bookkeeping cost (key, dict slot, objects), counted against the bound.
_ENTRY_OVERHEAD = 200
_PAGE = "l:"

# A held view: its JSON, and for a list page the id the next page starts after.
Entry = tuple[bytes, str | None]


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
        self._pages: set[str] = set()  # keys of held list pages
        self.listening = False

    # -- reads ------------------------------------------------------------------------

    async def application(self, id: str) -> bytes | None:
        entry = await self._read("a:" + id, self._load_view, get_application, id)
        return None if entry is None else entry[0]

    async def configuration(self, id: str) -> bytes | None:
        entry = await self._read("c:" + id, self._load_view, get_configuration, id)
        return None if entry is None else entry[0]

    async def application_page(self, limit: int, after: str | None) -> Entry:
        """A page of the list as a JSON array, and the id to continue after (None: last page)."""
        return await self._read(f"{_PAGE}{limit}:{after or ''}", self._load_page, limit, after)

    async def _load_view(self, query: Callable[..., BaseModel | None], id: str) -> Entry | None:
        view = await self._db.query(query, id)
        return None if view is None else (view.model_dump_json().encode(), None)

    async def _load_page(self, limit: int, after: str | None) -> Entry:
        page = await self._db.query(list_applications, limit, after)
        return _SUMMARIES.dump_json(page.items), page.next_after

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
        self._bytes += len(entry[0]) + _ENTRY_OVERHEAD
        if key.startswith(_PAGE):
            self._pages.add(key)
        while self._bytes > self.max_bytes and self._held:
            self._forget(next(iter(self._held)))

    # -- what changes it --------------------------------------------------------------

    def set_listening(self, listening: bool) -> None:
        """The listener started (True) or lost (False) its connection. Either way, what is
        held may have missed announcements: drop it all."""
        self._clear()
        self.listening = listening and self.max_bytes > 0

    def apply_announcements(self, payloads: list[str]) -> None:
        """Payloads from the database: 'a:<id>', 'c:<id>:<application id>' or '*'."""
        for payload in payloads:
            if payload.startswith("c:"):
                _, id, application_id = payload.split(":")
                self.configuration_changed(id, application_id)
            elif payload.startswith("a:"):
                self.application_changed(payload[2:])
            else:
                self._clear()

    def application_changed(self, id: str) -> None:
        """The application changed (here or elsewhere): later reads must see it. Its name or
        comments may show on any list page."""
        self._forget("a:" + id)
        for key in [*self._pages, *(key for key in self._fills if key.startswith(_PAGE))]:
            self._forget(key)

    def configuration_changed(self, id: str, application_id: str) -> None:
        """The configuration changed, and with it its application's list of ids."""
        self._forget("c:" + id)
        self._forget("a:" + application_id)

    def _forget(self, key: str) -> None:
        self._fills.pop(key, None)
        entry = self._held.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[0]) + _ENTRY_OVERHEAD
            self._pages.discard(key)

    def _clear(self) -> None:
        self._fills.clear()
        self._held.clear()
        self._pages.clear()
        self._bytes = 0

    @property
    def size(self) -> tuple[int, int]:
        """(views held, bytes counted against the bound)"""
        return len(self._held), self._bytes
