"""The read side as the API sees it: each view as ready-to-send JSON bytes, held in memory.

What is held: every name (a `Directory`) and every application's own fields (a record),
loaded whole at start; and views, each as its JSON with its ETag, in a byte-bounded LRU:
configurations, applications, bundles (an application with all its configurations) and
pages of lists.

How it follows the changes (`apply`: every change reaches it there, queries/follow.py):

- A change this instance committed comes with the row its write left: the configuration's
  view (or the application's record) is installed at once, before the write answers.
- A change made elsewhere (another instance, psql) is announced without its row: the views a
  batch of announcements touched are read again with one statement for the whole batch
  (queries/refresh.py), and their readers wait for that statement instead of each reading on
  their own.
- Views made of others are put together from memory when next read, without the database:
  an application's view (its record and its configuration ids) and a bundle (its record and
  its configurations' views). Pages of lists, which any change may reorder, are dropped and
  read again when asked for.

At start, when the listener first connects, everything is read in bulk at one revision
(queries/snapshot.py); until then the instance is not healthy. While listening ("live"),
what is held is current; what is not is read from the database (one query per view however
many readers ask) and kept. When the listener loses its connection, held views may miss
changes: every route reads the database, except the client path (`configuration_by_name`,
`bundle`), which keeps answering what is held, marked stale. When the listener is back, the
changes of the gap are replayed from the change feed, so only what changed is read again.

With several workers (infra/peers.py), a read served from memory first makes sure this worker
has followed every write another worker has answered: when one is newer than what it has
applied, it waits (up to PEER_WAIT) for its announcement.

A token limited to some applications finds every other one as if it did not exist: every
read here takes the reader's limit (`among`) and applies `infra.access.visible`.

Secret values: a configuration's view is held masked; for one that has secret values, the view
with them shown is held beside it (queries/held_views.py, SHOWN), for the readers who may see
them (`reveal`). A configuration without secrets costs its readers nothing more.

The model is split by job: the views held and their fills (queries/held_views.py), following
the changes (queries/following.py), the client path (queries/client_path.py), and here the
state, the reads by id and what is put together from memory. Everything runs on the event
loop thread, so it needs no locks.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from infra.access import Among, visible
from infra.database import Database
from infra.keyring import Keyring
from infra.peers import Peers
from queries.applications import get_application, list_applications
from queries.client_path import ClientPath
from queries.configurations import get_configuration, list_configurations
from queries.directory import Directory
from queries.following import Following, ToRefresh
from queries.held import HeldRequests
from queries.held_views import (
    APPLICATION,
    APPLICATION_PAGE,
    CONFIGURATION,
    CONFIGURATION_PAGE,
    SHOWN,
    Entry,
    HeldViews,
    entry_of,
    shown_entry_of,
)
from queries.records import Record
from queries.revision_waits import RevisionWaits
from queries.rollouts import Releases
from queries.sources import LIST, ReadSources
from queries.views import (
    ConfigurationView,
    Page,
    application_etag,
    digest,
    json_array,
    render_bundle,
)
from queries.watchers import Watchers

log = logging.getLogger(__name__)

# How long a read waits to hear of another worker's write (infra/peers.py) before it
# answers with what is held (the client path marks it stale).
PEER_WAIT = 1.0


class ReadModel(Following, ClientPath):
    def __init__(
        self,
        db: Database,
        max_bytes: int,
        held: HeldRequests | None = None,
        peers: Peers | None = None,
        sources: ReadSources | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self._db = db
        self._sources = sources or ReadSources(db)  # pages of lists may come from a replica
        self.keyring = keyring  # opens secret values for the views that show them
        # The secret pointers of every configuration that has some, by id (known once loaded).
        self._secrets: dict[str, tuple[str, ...]] = {}
        self.max_bytes = max_bytes
        self._peers = peers  # the other workers of this service, if any
        self._revision_waits = RevisionWaits()
        self.views = HeldViews(max_bytes)
        self.directory = Directory()
        self._records: dict[str, Record] = {}  # every application's own fields, by id
        self.listening = False  # following the announcements: what is held is current
        self.loaded = False  # a snapshot was loaded: the directory knows every name
        self.revision: int | None = None  # the latest announced change followed
        self.ready = asyncio.Event()  # set once the first snapshot is loaded
        self.watchers = Watchers(held)
        self._to_refresh: deque[ToRefresh] = deque()  # views to read again, in order (following.py)
        self._refresher: asyncio.Task | None = None  # reads them, one statement at a time
        self.releases = Releases()  # staged configurations: which client gets which version

    def secrets_of(self, configuration_id: str) -> tuple[str, ...] | None:
        """A configuration's secret pointers as followed here (None: not known yet). A hint
        for the write side, which checks it in every statement."""
        return self._secrets.get(configuration_id, ()) if self.loaded else None

    @property
    def state(self) -> str:
        if not self.loaded:
            return "loading"
        return "live" if self.listening else "stale"

    # -- the other workers' writes ----------------------------------------------------------

    def _peer_ahead(self) -> int:
        """The revision of another worker's write that this one has not followed yet; 0 when
        none (the common case costs one look at shared memory)."""
        if not self.listening or self._peers.newest() <= self.revision:
            return 0
        newest = self._peers.newest_of_others()  # its own writes show here at once
        return newest if newest > self.revision else 0

    async def _hear_peers(self, revision: int) -> bool:
        """Wait (up to PEER_WAIT) until the listener has applied `revision`; whether it has."""
        if await self._revision_waits.wait(revision, PEER_WAIT):
            return True
        if self.listening:
            log.warning("another worker's revision %d not heard of within %.1fs", revision, PEER_WAIT)
        return False

    # -- reads by id ----------------------------------------------------------------------

    async def application(self, id: str, among: Among = None) -> Entry | None:
        if not visible(among, id):
            return None
        if self._peers is not None and (ahead := self._peer_ahead()):
            await self._hear_peers(ahead)
        key = APPLICATION + id
        if self.listening and key not in self.views.entries and key not in self.views.fills:
            entry = self._assemble_application(id)
            if entry is not None:
                self.views.keep(key, entry)
                return entry
        return await self._read(key, self._load_view, get_application, id)

    async def configuration(self, id: str, among: Among = None, reveal: bool = False) -> Entry | None:
        """A configuration's view; with `reveal`, its secret values shown."""
        if self._peers is not None and (ahead := self._peer_ahead()):
            await self._hear_peers(ahead)
        entry = await self._read(CONFIGURATION + id, self._load_view, get_configuration, id)
        if entry is None or not visible(among, entry.application_id):
            return None
        if reveal and entry.secret:
            return await self._read(CONFIGURATION + id + SHOWN, self._load_shown, get_configuration, id) or entry
        return entry

    async def application_page(
        self, limit: int, after: str | None, offset: int = 0, search: str | None = None, among: Among = None
    ) -> Entry:
        """A page of the application list as a JSON array (of those the reader may see)."""
        if self._peers is not None and (ahead := self._peer_ahead()):
            await self._hear_peers(ahead)
        limited = "*" if among is None else digest(",".join(sorted(among)).encode())
        key = f"{APPLICATION_PAGE}{limit}:{after or ''}:{offset}:{limited}:{search or ''}"
        return await self._read(key, self._load_page, list_applications, limit, after, offset, search, among)

    async def configuration_page(
        self,
        application_id: str,
        limit: int,
        after: str | None,
        offset: int = 0,
        among: Among = None,
        reveal: bool = False,
    ) -> Entry | None:
        """A page of an application's configurations (with `reveal`, their secret values shown);
        None if there is no such application."""
        if not visible(among, application_id):
            return None
        if self._peers is not None and (ahead := self._peer_ahead()):
            await self._hear_peers(ahead)
        key = f"{CONFIGURATION_PAGE}{application_id}:{limit}:{after or ''}:{offset}" + (SHOWN if reveal else "")
        return await self._read(
            key, self._load_configuration_page, reveal, list_configurations, application_id, limit, after, offset
        )

    # -- views put together from memory ---------------------------------------------------

    def _assemble_application(self, id: str) -> Entry | None:
        """The application's view from its record and its configuration ids, when held."""
        record = self._records.get(id) if self.loaded else None
        if record is None:
            return None
        ids = sorted(id for _, id in self.directory.configurations_of(id))
        body = record.head + record.times + b',"configuration_ids":' + json_array([f'"{i}"'.encode() for i in ids])
        return Entry(body + b"}", application_etag(record.revision, ids), id)

    def _assemble_bundle(self, id: str, reveal: bool = False) -> Entry | None:
        """The bundle from the record and every configuration's view, when all are held."""
        record = self._records.get(id) if self.loaded else None
        if record is None:
            return None
        parts = []
        for name, configuration_id in self.directory.configurations_of(id):
            key = CONFIGURATION + configuration_id
            entry = self.views.entries.get(key)
            if entry is None or key in self.views.fills:
                return None
            if reveal and entry.secret:
                entry = self.views.entries.get(key + SHOWN)
                if entry is None or key + SHOWN in self.views.fills:
                    return None
            parts.append((name, entry))
        parts.sort(key=lambda part: part[0])
        body = render_bundle(record.head + b"}", [entry.body for _, entry in parts])
        return Entry(body, digest(body), id, served=tuple((e.id, e.version) for _, e in parts))

    # -- filling and holding --------------------------------------------------------------

    async def _load_view(self, query: Callable[..., BaseModel | None], *args: object) -> Entry | None:
        view = await self._db.query(query, *args)
        return None if view is None else entry_of(view)

    async def _load_shown(self, query: Callable[..., BaseModel | None], *args: object) -> Entry | None:
        """A configuration's view with its secret values shown."""
        view = await self._db.query(query, *args)
        return None if view is None else shown_entry_of(view, self.keyring)

    def _entry_for(self, view: ConfigurationView, reveal: bool) -> Entry:
        return shown_entry_of(view, self.keyring) if reveal and view.secrets else entry_of(view)

    async def _load_page(self, query: Callable[..., Page | None], *args: object) -> Entry | None:
        page = await self._sources.query(LIST, query, *args)
        if page is None:
            return None
        body = json_array([item.render() for item in page.items])
        return Entry(body, digest(body), next_after=page.next_after)

    async def _load_configuration_page(self, reveal: bool, query: Callable, *args: object) -> Entry | None:
        page = await self._sources.query(LIST, query, *args)
        if page is None:
            return None
        body = json_array([item.shown(reveal, self.keyring, item.id).render() for item in page.items])
        return Entry(body, digest(body), next_after=page.next_after)

    async def _load_bundle(self, query: Callable, key: str, reveal: bool = False) -> Entry | None:
        found = await self._db.query(query, key)
        if found is None:
            return None
        application, configurations = found
        views = [view.shown(reveal, self.keyring, view.id).render() for view in configurations]
        body = render_bundle(application.render(), views)
        return Entry(body, digest(body), application.id, served=tuple((v.id, v.version) for v in configurations))

    async def _read(self, key: str, load: Callable[..., Awaitable[Entry | None]], *args: object) -> Entry | None:
        """A view from memory, or read (and held) while listening; else always from the database."""
        if not self.listening:
            return await load(*args)
        return await self.views.read(key, load, *args)

    @property
    def size(self) -> tuple[int, int]:
        """(views held, bytes counted against the bound)"""
        return self.views.size
