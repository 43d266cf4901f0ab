"""The views an instance holds, as ready-to-send JSON with their ETag, in a byte-bounded LRU,
and the fills in flight: a view being read from the database is read once, however many
readers ask, and a change to it voids the fill (what it read may predate the change).

A view of a configuration with secret values is held masked under its key, as everyone may
see it; the same view with the values shown, for those who may see them, is held under the
key followed by SHOWN, and only for configurations that have secret values (whose masked
entry says so: `Entry.secret`). Whatever forgets a view forgets both.

Everything here runs on the event loop thread, so it needs no locks.
"""

import asyncio
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from infra.keyring import Keyring
from queries.snapshot import ENTRY_OVERHEAD
from queries.views import ApplicationView, ConfigurationView

# Keys of the held views: a prefix by kind, then what names the view.
APPLICATION = "a:"  # + application id
CONFIGURATION = "c:"  # + configuration id
BUNDLE = "b:"  # + application id
APPLICATION_PAGE = "l:"  # + the page's parameters
CONFIGURATION_PAGE = "p:"  # + application id + ":" + the page's parameters
SERVED = "v:"  # + configuration id + ":" + version + ":" + live version: a staged configuration's
RELEASE = "r:"  # + configuration id: never held; a reading of who gets which version, in flight
# After any key of a view with secret values (a configuration, a served version, a bundle, a
# page of configurations): the same view with the values shown.
SHOWN = "+"


class Entry(NamedTuple):
    """A held view: its JSON, its ETag, the application it belongs to (what a token limited to
    some applications may see), for a list page the key the next page starts after, for a
    configuration the revision of the latest change it shows, its id and its version, and for
    a bundle the (configuration id, version) of each configuration it holds; and whether it
    has secret values (held masked: the values shown are under its key + SHOWN)."""

    body: bytes
    etag: str
    application_id: str | None = None
    next_after: str | None = None
    revision: int | None = None
    id: str | None = None
    version: int | None = None
    served: tuple[tuple[str, int], ...] = ()
    secret: bool = False


class Fills(dict[str, asyncio.Future]):
    """The fills in flight, by key, with the keys of list pages among them kept apart: a change
    voids every page's fill, and a burst of announcements (100,000 configurations inserted in
    SQL) leaves as many configuration fills in flight, which a scan per change would walk."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: set[str] = set()

    def __setitem__(self, key: str, fill: asyncio.Future) -> None:
        super().__setitem__(key, fill)
        if key.startswith((APPLICATION_PAGE, CONFIGURATION_PAGE)):
            self.pages.add(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.pages.discard(key)

    def pop(self, key: str, *default: object) -> object:
        self.pages.discard(key)
        return super().pop(key, *default)

    def clear(self) -> None:
        super().clear()
        self.pages.clear()


class HeldViews:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        # Fills in flight, by key. Readers of a key that is being filled wait for that fill
        # (one query, however many readers); a change to the key removes it from here, so
        # that the fill, which may have read the old state, is neither kept nor joined.
        self.fills = Fills()
        self._pages: set[str] = set()  # keys of held pages of the application list
        # Keys of held pages of each application's configuration list.
        self._configuration_pages: defaultdict[str, set[str]] = defaultdict(set)

    def held(self, key: str) -> Entry | None:
        """The view held under `key`, now the most recently used."""
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    async def read(self, key: str, load: Callable[..., Awaitable[Entry | None]], *args: object) -> Entry | None:
        """The view held under `key`, or `load(*args)` (joined by every reader meanwhile) kept."""
        entry = self.held(key)
        if entry is not None:
            return entry
        pending = self.fills.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fill = self.fills[key] = asyncio.get_running_loop().create_future()
        try:
            entry = await load(*args)
        except BaseException as exc:
            self.end_fill(key, fill)
            fail(fill, exc)
            raise
        if self.end_fill(key, fill) and entry is not None:
            self.keep(key, entry)
        fill.set_result(entry)
        return entry

    def end_fill(self, key: str, fill: asyncio.Future) -> bool:
        """Whether the fill is still current (no change to its key since it began)."""
        if self.fills.get(key) is fill:
            del self.fills[key]
            return True
        return False

    def keep(self, key: str, entry: Entry) -> None:
        if self.max_bytes <= 0:
            return
        self._forget(key)
        self.entries[key] = entry
        self._bytes += len(entry.body) + ENTRY_OVERHEAD
        if key.startswith(APPLICATION_PAGE):
            self._pages.add(key)
        elif key.startswith(CONFIGURATION_PAGE):
            self._configuration_pages[key.split(":", 2)[1]].add(key)
        while self._bytes > self.max_bytes and self.entries:
            self.forget(next(iter(self.entries)))

    def forget_configuration_pages(self, application_id: str) -> None:
        prefix = f"{CONFIGURATION_PAGE}{application_id}:"
        keys = [
            *self._configuration_pages.pop(application_id, ()),
            *(k for k in self.fills.pages if k.startswith(prefix)),
        ]
        for key in keys:
            self.forget(key)

    def forget_list_pages(self) -> None:
        # Any application may show on any page, with its configurations' count and latest change.
        for key in [*self._pages, *(key for key in self.fills.pages if key.startswith(APPLICATION_PAGE))]:
            self.forget(key)

    def forget(self, key: str) -> None:
        """Forgets the view, and the same with its secret values shown."""
        self._forget(key)
        self._forget(key + SHOWN)

    def _forget(self, key: str) -> None:
        self.fills.pop(key, None)
        entry = self.entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body) + ENTRY_OVERHEAD
            if key.startswith(APPLICATION_PAGE):
                self._pages.discard(key)
            elif key.startswith(CONFIGURATION_PAGE):
                application_id = key.split(":", 2)[1]
                pages = self._configuration_pages.get(application_id)
                if pages is not None:
                    pages.discard(key)
                    if not pages:
                        del self._configuration_pages[application_id]

    def clear(self) -> None:
        self.fills.clear()
        self.entries.clear()
        self._pages.clear()
        self._configuration_pages.clear()
        self._bytes = 0

    @property
    def size(self) -> tuple[int, int]:
        """(views held, bytes counted against the bound)"""
        return len(self.entries), self._bytes


def fail(fill: asyncio.Future, exc: BaseException) -> None:
    if isinstance(exc, asyncio.CancelledError):
        fill.cancel()
    else:
        fill.set_exception(exc)
        fill.exception()  # the joiners (if any) get it; nobody else needs to


def entry_of(view: ConfigurationView | ApplicationView) -> Entry:
    """A configuration's or an application's view as held (a configuration's masked)."""
    if isinstance(view, ConfigurationView):
        return _configuration_entry(view.masked(), view)
    return Entry(view.render(), view.etag, view.id)


def shown_entry_of(view: ConfigurationView, keyring: Keyring | None) -> Entry:
    """A configuration's view with its secret values shown (held under its key + SHOWN)."""
    return _configuration_entry(view.revealed(keyring, view.id), view)


def _configuration_entry(shown: ConfigurationView, view: ConfigurationView) -> Entry:
    return Entry(
        shown.render(),
        view.etag,
        view.application_id,
        revision=view.revision,
        id=view.id,
        version=view.version,
        secret=bool(view.secrets),
    )
