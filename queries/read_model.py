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

Everything here runs on the event loop thread, so it needs no locks.
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from psycopg2.extensions import connection as Connection
from pydantic import BaseModel

from infra.access import Among, visible
from infra.database import Database
from infra.events import Committed
from infra.peers import Peers
from queries.announcements import committed_of
from queries.applications import get_application, list_applications
from queries.by_name import Missing, bundle_by_id, bundle_by_name, configuration_by_name
from queries.configurations import get_configuration, list_configurations, served_version
from queries.directory import Directory
from queries.held import HeldRequests
from queries.refresh import Refreshed, refresh
from queries.revision_waits import RevisionWaits
from queries.rollouts import Releases
from queries.snapshot import ENTRY_OVERHEAD, Gap, Snapshot, catch_up
from queries.views import (
    ApplicationRecord,
    ApplicationView,
    ConfigurationView,
    Page,
    application_etag,
    digest,
    json_array,
    render_bundle,
)
from queries.watchers import Watchers

log = logging.getLogger(__name__)

# Keys of the held views: a prefix by kind, then what names the view.
APPLICATION = "a:"  # + application id
CONFIGURATION = "c:"  # + configuration id
BUNDLE = "b:"  # + application id
APPLICATION_PAGE = "l:"  # + the page's parameters
CONFIGURATION_PAGE = "p:"  # + application id + ":" + the page's parameters
SERVED = "v:"  # + configuration id + ":" + version + ":" + live version: a staged configuration's
RELEASE = "r:"  # + configuration id: never held; a reading of who gets which version, in flight
# How long a read waits to hear of another worker's write (infra/peers.py) before it
# answers with what is held (the client path marks it stale).
PEER_WAIT = 1.0


class Entry(NamedTuple):
    """A held view: its JSON, its ETag, the application it belongs to (what a token limited to
    some applications may see), for a list page the key the next page starts after, for a
    configuration the revision of the latest change it shows, its id and its version, and for
    a bundle the (configuration id, version) of each configuration it holds."""

    body: bytes
    etag: str
    application_id: str | None = None
    next_after: str | None = None
    revision: int | None = None
    id: str | None = None
    version: int | None = None
    served: tuple[tuple[str, int], ...] = ()


class ClientRead(NamedTuple):
    """An answer of the client path: the view, or what was missing; and whether it may be stale."""

    found: Entry | Missing
    stale: bool


class Record(NamedTuple):
    """An application's own fields as its view's JSON, in two parts: `head` (`{"id":..,"name":..,
    "comments":..,"version":N`, unclosed: a bundle's application is `head + b"}"`) and `times`
    (`,"created_at":..,"updated_at":..`), which its view puts before its configuration ids."""

    head: bytes
    times: bytes
    revision: int


def record_of(row: dict) -> Record:
    body = ApplicationRecord(**row).render()
    cut = body.rfind(b',"created_at":"')  # quotes inside JSON strings are escaped: only one
    return Record(body[:cut], body[cut:-1], row["revision"])


class ReadModel:
    def __init__(
        self, db: Database, max_bytes: int, held: HeldRequests | None = None, peers: Peers | None = None
    ) -> None:
        self._db = db
        self.max_bytes = max_bytes
        self._peers = peers  # the other workers of this service, if any
        self._revision_waits = RevisionWaits()
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
        self._records: dict[str, Record] = {}  # every application's own fields, by id
        self.listening = False  # following the announcements: what is held is current
        self.loaded = False  # a snapshot was loaded: the directory knows every name
        self.revision: int | None = None  # the latest announced change followed
        self.ready = asyncio.Event()  # set once the first snapshot is loaded
        self.watchers = Watchers(held)
        self._refreshing: set[asyncio.Task] = set()
        self.releases = Releases()  # staged configurations: which client gets which version

    @property
    def state(self) -> str:
        if not self.loaded:
            return "loading"
        return "live" if self.listening else "stale"

    # -- following the changes --------------------------------------------------------

    def catch_up(self, conn: Connection) -> Snapshot | Gap:
        """What to read when listening (re)starts. Runs in the listener's thread, before any
        announcement made after it is handed over. It reads `revision` while the loop may still
        be applying earlier announcements: then the gap starts a little early, which only
        replays more (and the feed reloads its tail), never less."""
        return catch_up(conn, self.revision if self.loaded else None, self.max_bytes)

    def resume(self, caught_up: Snapshot | Gap) -> None:
        """Listening again, with what `catch_up` read."""
        self.listening = True
        if isinstance(caught_up, Snapshot):
            self._install(caught_up)
        else:
            self.apply([committed_of(change) for change in caught_up.changes], announced=True)
            self.revision = max(self.revision or 0, caught_up.revision)
        self._revision_waits.reached(self.revision)
        self.releases.replace(caught_up.staged)
        self.watchers.wake_all()  # watchers of what changed meanwhile look again

    def pause(self) -> None:
        """The listener lost its connection: keep what is held, but it may go stale."""
        self.listening = False
        self._fills.clear()  # what is being read now is kept by no one
        self._revision_waits.give_up()  # reads go to the database meanwhile

    def apply(self, events: Iterable[Committed], *, announced: bool) -> None:
        """Changes, in the order they committed: `announced` by the database (made here,
        elsewhere or in psql; without rows), or committed by this instance (with rows, perhaps
        before the announcements of earlier changes made elsewhere)."""
        stale_configurations: list[str] = []
        stale_applications: list[str] = []
        stale_rollouts: list[tuple[str, str]] = []
        for event in events:
            if event.kind not in ("application", "configuration", "schema", "rollout"):
                continue  # tokens, reports, sightings: not revisions
            if self.revision is not None and event.revision <= self.revision:
                # Replayed already; or this instance's own change, whose announcement came
                # first (perhaps with later changes, which this older news must not undo).
                continue
            if announced:
                self.revision = event.revision
            if event.kind == "schema":
                continue  # no view held here shows a schema
            if event.kind == "rollout":
                self._rollout_changed(event, stale_rollouts, stale_configurations)
                continue
            self.directory.apply(event)
            if event.kind == "configuration":
                self._configuration_changed(event, stale_configurations)
            else:
                self._application_changed(event, stale_applications)
        if (stale_configurations or stale_applications or stale_rollouts) and self.listening:
            self._refresh(stale_configurations, stale_applications, stale_rollouts)
        if announced:
            self._revision_waits.reached(self.revision)

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

    def forget_views(self) -> None:
        """Something was announced that cannot be followed: no view held can be trusted."""
        self._clear()
        self._records.clear()

    def _configuration_changed(self, event: Committed, stale: list[str]) -> None:
        key = CONFIGURATION + event.id
        if event.removed:
            self._forget(key)
            self.releases.configuration_changed(event.id, None, None)
        elif event.row is not None:
            held = self._held.get(key)
            if held is None or held.revision < event.revision:  # a view never goes back
                self._keep(key, _entry(ConfigurationView(**event.row)))
                self.releases.configuration_changed(event.id, event.row["release"], event.row["live_version"])
        else:
            held = self._held.get(key)
            if held is None or held.revision < event.revision:
                self._forget(key)
                stale.append(event.id)
        application_id = event.application_id
        self._forget(BUNDLE + application_id)
        if event.action != "updated":  # the application's configuration ids may have changed
            self._forget(APPLICATION + application_id)
        self._forget_configuration_pages(application_id)
        self._forget_list_pages()
        self.watchers.wake(application_id)

    def _application_changed(self, event: Committed, stale: list[str]) -> None:
        record = self._records.get(event.id)
        if event.removed:
            self._records.pop(event.id, None)
        elif event.row is not None:
            if self.max_bytes > 0 and (record is None or record.revision < event.revision):
                self._records[event.id] = record_of(event.row)
        elif record is None or record.revision < event.revision:
            self._records.pop(event.id, None)
            stale.append(event.id)
        self._forget(APPLICATION + event.id)
        self._forget(BUNDLE + event.id)
        self._forget_configuration_pages(event.id)
        self._forget_list_pages()
        self.watchers.wake(event.id)

    def _rollout_changed(
        self, event: Committed, stale_rollouts: list[tuple[str, str]], stale_configurations: list[str]
    ) -> None:
        """A rollout's event: who gets which version changed (and at its end, the live version)."""
        row = event.row
        configuration_id = event.configuration_id or (row or {}).get("configuration_id")
        if row is not None:
            self._forget(RELEASE + configuration_id)  # a reading of it in flight is older
            self.releases.rollout_changed(row)
        elif configuration_id is not None:
            stale_rollouts.append((event.id, configuration_id))
        if event.action == "completed" and configuration_id is not None:
            self._forget(CONFIGURATION + configuration_id)  # its view shows the live version
            stale_configurations.append(configuration_id)
        self._forget(BUNDLE + event.application_id)
        self.watchers.wake(event.application_id)

    def _refresh(
        self, configuration_ids: list[str], application_ids: list[str], rollouts: list[tuple[str, str]] = ()
    ) -> None:
        """Read the views these changes touched again, in one statement; readers of them (and of
        the versions the rollouts give) wait for it meanwhile."""
        loop = asyncio.get_running_loop()
        fills: dict[str, asyncio.Future] = {}
        keys = [CONFIGURATION + id for id in configuration_ids] + [APPLICATION + id for id in application_ids]
        keys += [RELEASE + configuration_id for _, configuration_id in rollouts]
        for key in keys:
            self._forget(key)
            fills[key] = self._fills[key] = loop.create_future()
        rollout_ids = [id for id, _ in rollouts]
        task = loop.create_task(self._refreshed(fills, configuration_ids, application_ids, rollout_ids))
        self._refreshing.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._refreshing.discard)

    async def _refreshed(
        self,
        fills: dict[str, asyncio.Future],
        configuration_ids: list[str],
        application_ids: list[str],
        rollout_ids: list[str],
    ) -> None:
        try:
            found: Refreshed = await self._db.query(refresh, configuration_ids, application_ids, rollout_ids)
        except BaseException as exc:
            for key, fill in fills.items():
                self._end_fill(key, fill)
                _fail(fill, exc)
            if not isinstance(exc, Exception):
                raise
            # Its readers got the error; the next ones read on their own.
            log.info("reading %d changed views again failed: %s", len(fills), exc)
            return
        for id, row in found.applications.items():
            record = self._records.get(id)
            if record is None or record.revision < row["revision"]:
                self._records[id] = record_of(row)
        # Who gets which version first (what is read here is newer than what is held, unless a
        # change since made the reading stale: then its own news decides), then the views.
        woken = set()
        for view in found.configurations.values():
            if self._fills.get(CONFIGURATION + view.id) is fills.get(CONFIGURATION + view.id):
                self.releases.configuration_changed(view.id, view.release, view.live_version)
                woken.add(view.application_id)
        for row in found.rollouts:
            if self._fills.get(RELEASE + row["configuration_id"]) is fills.get(RELEASE + row["configuration_id"]):
                self.releases.rollout_changed(row)
                woken.add(row["application_id"])
        for key, fill in fills.items():
            prefix, id = key[:2], key[2:]
            entry = None
            if prefix == CONFIGURATION:
                view = found.configurations.get(id)
                entry = None if view is None else _entry(view)
            elif prefix == APPLICATION:
                entry = self._assemble_application(id)
            if self._end_fill(key, fill) and entry is not None and self.listening:
                self._keep(key, entry)
            fill.set_result(entry)
        for application_id in woken:  # readers that looked meanwhile look again
            self.watchers.wake(application_id)

    def _install(self, snapshot: Snapshot) -> None:
        self._clear()
        self.directory.clear()
        self._records.clear()
        for row in snapshot.applications:
            self.directory.set_application(row["id"], row["name"])
            if self.max_bytes > 0:
                self._records[row["id"]] = record_of(row)
        for id, application_id, name, revision, version, body in snapshot.configurations:
            self.directory.set_configuration(id, application_id, name)
            if body is not None:
                entry = Entry(body, str(revision), application_id, revision=revision, id=id, version=version)
                self._keep(CONFIGURATION + id, entry)
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

    # -- reads by id ----------------------------------------------------------------------

    async def application(self, id: str, among: Among = None) -> Entry | None:
        if not visible(among, id):
            return None
        if self._peers is not None and (ahead := self._peer_ahead()):
            await self._hear_peers(ahead)
        key = APPLICATION + id
        if self.listening and key not in self._held and key not in self._fills:
            entry = self._assemble_application(id)
            if entry is not None:
                self._keep(key, entry)
                return entry
        return await self._read(key, self._load_view, get_application, id)

    async def configuration(self, id: str, among: Among = None) -> Entry | None:
        if self._peers is not None and (ahead := self._peer_ahead()):
            await self._hear_peers(ahead)
        entry = await self._read(CONFIGURATION + id, self._load_view, get_configuration, id)
        return entry if entry is not None and visible(among, entry.application_id) else None

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
        self, application_id: str, limit: int, after: str | None, offset: int = 0, among: Among = None
    ) -> Entry | None:
        """A page of an application's configurations; None if there is no such application."""
        if not visible(among, application_id):
            return None
        if self._peers is not None and (ahead := self._peer_ahead()):
            await self._hear_peers(ahead)
        key = f"{CONFIGURATION_PAGE}{application_id}:{limit}:{after or ''}:{offset}"
        return await self._read(key, self._load_page, list_configurations, application_id, limit, after, offset)

    # -- the client path: by name, and served stale rather than not at all --------------

    async def configuration_by_name(
        self, application: str, name: str, among: Among = None, client_id: str | None = None
    ) -> ClientRead:
        """The configuration as this client is served it: its latest version, or for a staged
        configuration the version its release gives the client (queries/rollouts.py)."""
        stale = not self.listening
        if self._peers is not None and (ahead := self._peer_ahead()):
            stale = not await self._hear_peers(ahead)
        application_id = self.directory.application_id(application) if self.loaded else None
        if application_id is not None:
            if not visible(among, application_id):
                return ClientRead(Missing("application"), stale)
            id = self.directory.configuration_id(application_id, name)
            if id is not None:
                entry = await self._for_client(id, client_id, stale)
                if entry is not None:
                    return ClientRead(entry, stale)
            elif not stale:
                return ClientRead(Missing("configuration", application_id), stale)
        elif self.loaded and not stale:
            return ClientRead(Missing("application"), stale)
        # Not known here for certain: the database decides.
        found = await self._db.query(configuration_by_name, application, name)
        owner = found.application_id
        if owner is not None and not visible(among, owner):
            return ClientRead(Missing("application"), stale)
        if isinstance(found, Missing):
            return ClientRead(found, stale)
        if found.release == "staged":
            version = self.releases.version_for(found.id, client_id) or found.live_version
            return ClientRead(
                await self._load_view(served_version, found.id, version) or Missing("configuration"), stale
            )
        return ClientRead(_entry(found), stale)

    async def configuration_id(self, application: str, name: str, among: Among = None) -> str | None:
        """A configuration's id by its application's name and its own (None: none the reader
        may see), from the names held when they are known."""
        if self.loaded and self.listening:
            application_id = self.directory.application_id(application)
            if application_id is None or not visible(among, application_id):
                return None
            return self.directory.configuration_id(application_id, name)
        found = await self._db.query(configuration_by_name, application, name)
        if isinstance(found, Missing) or not visible(among, found.application_id):
            return None
        return found.id

    async def _for_client(self, id: str, client_id: str | None, stale: bool) -> Entry | None:
        """A configuration's view as a client gets it, from memory when held (while stale: only
        then)."""
        for key in (CONFIGURATION + id, RELEASE + id):
            pending = self._fills.get(key)
            if pending is not None:  # its release may be changing: as the database says, first
                with contextlib.suppress(Exception):
                    await asyncio.shield(pending)
        version = self.releases.version_for(id, client_id)
        if version is None:
            key, load, args = CONFIGURATION + id, get_configuration, (id,)
        else:
            live = self.releases.get(id).live_version
            key, load, args = f"{SERVED}{id}:{version}:{live}", served_version, (id, version)
        entry = self._held_entry(key) if stale else None
        if entry is None:
            entry = await self._read(key, self._load_view, load, *args)
        return entry

    async def bundle(self, application: str, among: Among = None, client_id: str | None = None) -> ClientRead:
        """The application (its id, name, comments, version) and all its configurations by name,
        each as this client is served it."""
        stale = not self.listening
        if self._peers is not None and (ahead := self._peer_ahead()):
            stale = not await self._hear_peers(ahead)
        application_id = self.directory.application_id(application) if self.loaded else None
        if application_id is not None:
            if not visible(among, application_id):
                return ClientRead(Missing("application"), stale)
            if self._has_staged(application_id):
                entry = await self._client_bundle(application_id, client_id, stale)
                if entry is not None:
                    return ClientRead(entry, stale)
            key = BUNDLE + application_id
            entry = self._held_entry(key)
            if entry is None and key not in self._fills:
                # From the views held: while stale, the last ones known here.
                entry = self._assemble_bundle(application_id)
                if entry is not None and not stale:
                    self._keep(key, entry)
            if entry is None:
                entry = await self._read(key, self._load_bundle, bundle_by_id, application_id)
            if entry is not None:
                return ClientRead(entry, stale)
        elif self.loaded and not stale:
            return ClientRead(Missing("application"), stale)
        entry = await self._load_bundle(bundle_by_name, application)
        if entry is None or not visible(among, entry.application_id):
            return ClientRead(Missing("application"), stale)
        return ClientRead(entry, stale)

    def _has_staged(self, application_id: str) -> bool:
        return any(self.releases.get(id) is not None for _, id in self.directory.configurations_of(application_id))

    async def _client_bundle(self, application_id: str, client_id: str | None, stale: bool) -> Entry | None:
        """A bundle with staged configurations, put together for this client (not held: each
        client may get other versions; its parts are)."""
        record = self._records.get(application_id)
        if record is None:
            return None
        parts = []
        for _, id in sorted(self.directory.configurations_of(application_id)):
            entry = await self._for_client(id, client_id, stale)
            if entry is not None:
                parts.append(entry)
        body = render_bundle(record.head + b"}", [entry.body for entry in parts])
        return Entry(body, digest(body), application_id, served=tuple((e.id, e.version) for e in parts))

    async def watch(
        self,
        application: str,
        read: Callable[[], Awaitable[ClientRead]],
        unchanged: Callable[[Entry], bool],
        seconds: float,
    ) -> ClientRead:
        """`read()` once what it finds is no longer `unchanged` (or is gone), or after `seconds`
        as it is. Waiting holds nothing but a future: no connection, no worker."""
        return await self.watchers.watch(
            lambda: self.directory.application_id(application) or "",
            read,
            lambda answer: isinstance(answer.found, Missing) or not unchanged(answer.found),
            seconds,
        )

    def end_watches(self) -> None:
        """Shutting down: every watch answers now, as if its time had passed."""
        self.watchers.end()

    # -- views put together from memory ---------------------------------------------------

    def _assemble_application(self, id: str) -> Entry | None:
        """The application's view from its record and its configuration ids, when held."""
        record = self._records.get(id) if self.loaded else None
        if record is None:
            return None
        ids = sorted(id for _, id in self.directory.configurations_of(id))
        body = record.head + record.times + b',"configuration_ids":' + json_array([f'"{i}"'.encode() for i in ids])
        return Entry(body + b"}", application_etag(record.revision, ids), id)

    def _assemble_bundle(self, id: str) -> Entry | None:
        """The bundle from the record and every configuration's view, when all are held."""
        record = self._records.get(id) if self.loaded else None
        if record is None:
            return None
        parts = []
        for name, configuration_id in self.directory.configurations_of(id):
            key = CONFIGURATION + configuration_id
            entry = self._held.get(key)
            if entry is None or key in self._fills:
                return None
            parts.append((name, entry))
        parts.sort(key=lambda part: part[0])
        body = render_bundle(record.head + b"}", [entry.body for _, entry in parts])
        return Entry(body, digest(body), id, served=tuple((e.id, e.version) for _, e in parts))

    # -- filling and holding --------------------------------------------------------------

    async def _load_view(self, query: Callable[..., BaseModel | None], *args: object) -> Entry | None:
        view = await self._db.query(query, *args)
        return None if view is None else _entry(view)

    async def _load_page(self, query: Callable[..., Page | None], *args: object) -> Entry | None:
        page = await self._db.query(query, *args)
        if page is None:
            return None
        body = json_array([item.render() for item in page.items])
        return Entry(body, digest(body), next_after=page.next_after)

    async def _load_bundle(self, query: Callable, key: str) -> Entry | None:
        found = await self._db.query(query, key)
        if found is None:
            return None
        application, configurations = found
        body = render_bundle(application.render(), [view.render() for view in configurations])
        return Entry(body, digest(body), application.id, served=tuple((v.id, v.version) for v in configurations))

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
            _fail(fill, exc)
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
        if key.startswith(APPLICATION_PAGE):
            self._pages.add(key)
        elif key.startswith(CONFIGURATION_PAGE):
            self._configuration_pages[key.split(":", 2)[1]].add(key)
        while self._bytes > self.max_bytes and self._held:
            self._forget(next(iter(self._held)))

    def _forget_configuration_pages(self, application_id: str) -> None:
        prefix = f"{CONFIGURATION_PAGE}{application_id}:"
        keys = [*self._configuration_pages.pop(application_id, ()), *(k for k in self._fills if k.startswith(prefix))]
        for key in keys:
            self._forget(key)

    def _forget_list_pages(self) -> None:
        # Any application may show on any page, with its configurations' count and latest change.
        for key in [*self._pages, *(key for key in self._fills if key.startswith(APPLICATION_PAGE))]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        self._fills.pop(key, None)
        entry = self._held.pop(key, None)
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


def _fail(fill: asyncio.Future, exc: BaseException) -> None:
    if isinstance(exc, asyncio.CancelledError):
        fill.cancel()
    else:
        fill.set_exception(exc)
        fill.exception()  # the joiners (if any) get it; nobody else needs to


def _entry(view: ConfigurationView | ApplicationView) -> Entry:
    """A configuration's or an application's view as held."""
    if isinstance(view, ConfigurationView):
        return Entry(
            view.render(), view.etag, view.application_id, revision=view.revision, id=view.id, version=view.version
        )
    return Entry(view.render(), view.etag, view.id)
