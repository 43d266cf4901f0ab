"""How the read model follows the changes: every change reaches it through `apply`, whether
this instance committed it (with the row its write left: the view is installed at once) or
the database announced it (without the row: the views a batch touched are read again in one
statement, queries/refresh.py, while their readers wait for it); at start and after a gap,
what the listener read (`catch_up`, `resume`).

`Following` is a part of `queries.read_model.ReadModel`, split out by job: it keeps what the
model holds (directory, records, releases, held views) current. Everything here runs on the
event loop thread, except `catch_up` (the listener's).
"""

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg2.extensions import connection as Connection

from infra.events import Committed
from queries.announcements import committed_of
from queries.held_views import APPLICATION, BUNDLE, CONFIGURATION, RELEASE, SHOWN, Entry, entry_of, fail, shown_entry_of
from queries.records import record_of
from queries.refresh import Refreshed, refresh
from queries.snapshot import Gap, Snapshot, catch_up
from queries.views import ConfigurationView

log = logging.getLogger("queries.read_model")


# Views read again in one statement, at most (a batch larger alone is read whole).
REFRESH_AT_MOST = 5000


@dataclass
class ToRefresh:
    """Views to read again: each key with the fill its readers wait on, and the ids to read."""

    fills: list[tuple[str, asyncio.Future]]
    configuration_ids: list[str]
    application_ids: list[str]
    rollout_ids: list[str]

    @property
    def size(self) -> int:
        return len(self.fills)

    def add(self, other: "ToRefresh") -> None:
        self.fills += other.fills
        self.configuration_ids += other.configuration_ids
        self.application_ids += other.application_ids
        self.rollout_ids += other.rollout_ids


class Following:
    # -- following the changes --------------------------------------------------------

    def catch_up(self, conn: Connection) -> Snapshot | Gap:
        """What to read when listening (re)starts. Runs in the listener's thread, before any
        announcement made after it is handed over. It reads `revision` while the loop may still
        be applying earlier announcements: then the gap starts a little early, which only
        replays more (and the feed reloads its tail), never less."""
        return catch_up(
            conn, self.revision if self.loaded else None, self.max_bytes, self._sources.replicas, self.keyring
        )

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
        self.views.fills.clear()  # what is being read now is kept by no one
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

    def forget_views(self) -> None:
        """Something was announced that cannot be followed: no view held can be trusted."""
        self.views.clear()
        self._records.clear()

    def _hold_configuration(self, view: ConfigurationView, entry: Entry | None = None) -> None:
        """A configuration's view as read or written (`entry`: as held already made): held
        masked, and with its secret values shown when it has some; its pointers noted."""
        key = CONFIGURATION + view.id
        self.views.forget(key)
        self.views.keep(key, entry or entry_of(view))
        if view.secrets:
            self._secrets[view.id] = tuple(view.secrets)
            self.views.keep(key + SHOWN, shown_entry_of(view, self.keyring))
        else:
            self._secrets.pop(view.id, None)

    def _configuration_changed(self, event: Committed, stale: list[str]) -> None:
        key = CONFIGURATION + event.id
        if event.removed:
            self.views.forget(key)
            self._secrets.pop(event.id, None)
            self.releases.configuration_changed(event.id, None, None)
        elif event.row is not None:
            held = self.views.entries.get(key)
            if held is None or held.revision < event.revision:  # a view never goes back
                self._hold_configuration(ConfigurationView(**event.row))
                self.releases.configuration_changed(event.id, event.row["release"], event.row["live_version"])
        else:
            held = self.views.entries.get(key)
            if held is None or held.revision < event.revision:
                self.views.forget(key)
                stale.append(event.id)
        application_id = event.application_id
        self.views.forget(BUNDLE + application_id)
        if event.action != "updated":  # the application's configuration ids may have changed
            self.views.forget(APPLICATION + application_id)
        self.views.forget_configuration_pages(application_id)
        self.views.forget_list_pages()
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
        self.views.forget(APPLICATION + event.id)
        self.views.forget(BUNDLE + event.id)
        self.views.forget_configuration_pages(event.id)
        self.views.forget_list_pages()
        self.watchers.wake(event.id)

    def _rollout_changed(
        self, event: Committed, stale_rollouts: list[tuple[str, str]], stale_configurations: list[str]
    ) -> None:
        """A rollout's event: who gets which version changed (and at its end, the live version)."""
        row = event.row
        configuration_id = event.configuration_id or (row or {}).get("configuration_id")
        if row is not None:
            self.views.forget(RELEASE + configuration_id)  # a reading of it in flight is older
            self.releases.rollout_changed(row)
        elif configuration_id is not None:
            stale_rollouts.append((event.id, configuration_id))
        if event.action == "completed" and configuration_id is not None:
            self.views.forget(CONFIGURATION + configuration_id)  # its view shows the live version
            stale_configurations.append(configuration_id)
        self.views.forget(BUNDLE + event.application_id)
        self.watchers.wake(event.application_id)

    def _refresh(
        self, configuration_ids: list[str], application_ids: list[str], rollouts: list[tuple[str, str]] = ()
    ) -> None:
        """Read the views these changes touched again; readers of them (and of the versions the
        rollouts give) wait for it meanwhile. One statement at a time per instance, for every
        batch waiting (up to REFRESH_AT_MOST views): a burst of announcements takes one read
        worker from the requests, never all of them."""
        loop = asyncio.get_running_loop()
        batch = ToRefresh([], list(configuration_ids), list(application_ids), [id for id, _ in rollouts])
        keys = [CONFIGURATION + id for id in configuration_ids] + [APPLICATION + id for id in application_ids]
        keys += [RELEASE + configuration_id for _, configuration_id in rollouts]
        for key in keys:
            self.views.forget(key)
            fill = self.views.fills[key] = loop.create_future()
            batch.fills.append((key, fill))
        self._to_refresh.append(batch)
        if self._refresher is None or self._refresher.done():
            self._refresher = loop.create_task(self._refresh_waiting())

    async def _refresh_waiting(self) -> None:
        while self._to_refresh:
            merged = self._to_refresh.popleft()
            while self._to_refresh and merged.size + self._to_refresh[0].size <= REFRESH_AT_MOST:
                merged.add(self._to_refresh.popleft())
            await self._refreshed(merged)

    async def _refreshed(self, batch: "ToRefresh") -> None:
        # A key changed again before its first reading was sent has two fills: both are
        # answered by this reading (made after both changes); the later one alone may be kept.
        fills = dict(batch.fills)
        try:
            found: Refreshed = await self._db.query(
                refresh,
                list(dict.fromkeys(batch.configuration_ids)),
                list(dict.fromkeys(batch.application_ids)),
                list(dict.fromkeys(batch.rollout_ids)),
            )
        except BaseException as exc:
            for key, fill in batch.fills:
                self.views.end_fill(key, fill)
                fail(fill, exc)
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
            if self.views.fills.get(CONFIGURATION + view.id) is fills.get(CONFIGURATION + view.id):
                self.releases.configuration_changed(view.id, view.release, view.live_version)
                woken.add(view.application_id)
        for row in found.rollouts:
            if self.views.fills.get(RELEASE + row["configuration_id"]) is fills.get(RELEASE + row["configuration_id"]):
                self.releases.rollout_changed(row)
                woken.add(row["application_id"])
        for key, fill in batch.fills:
            prefix, id = key[:2], key[2:]
            entry = view = None
            if prefix == CONFIGURATION:
                view = found.configurations.get(id)
                entry = None if view is None else entry_of(view)
            elif prefix == APPLICATION:
                entry = self._assemble_application(id)
            if self.views.end_fill(key, fill) and entry is not None and self.listening:
                if view is not None:
                    self._hold_configuration(view, entry)
                else:
                    self.views.keep(key, entry)
            fill.set_result(entry)
        for application_id in woken:  # readers that looked meanwhile look again
            self.watchers.wake(application_id)

    def _install(self, snapshot: Snapshot) -> None:
        self.views.clear()
        self.directory.clear()
        self._records.clear()
        for row in snapshot.applications:
            self.directory.set_application(row["id"], row["name"])
            if self.max_bytes > 0:
                self._records[row["id"]] = record_of(row)
        self._secrets.clear()
        for id, application_id, name, revision, version, body, shown, secrets in snapshot.configurations:
            self.directory.set_configuration(id, application_id, name)
            if secrets:
                self._secrets[id] = secrets
            if body is not None:
                entry = Entry(
                    body, str(revision), application_id, revision=revision, id=id, version=version, secret=bool(secrets)
                )
                self.views.keep(CONFIGURATION + id, entry)
                if shown is not None:
                    self.views.keep(CONFIGURATION + id + SHOWN, entry._replace(body=shown))
        self.revision = snapshot.revision
        self.loaded = True
        self.ready.set()
        log.info(
            "read model: %d names and %d views (%.1f MB%s) at revision %d, read in %.2fs on %s",
            len(self.directory),
            len(self.views.entries),
            self.views.size[1] / 1e6,
            "" if snapshot.complete else ", as many as READ_CACHE_MAX_BYTES allows",
            snapshot.revision,
            snapshot.seconds,
            f"replica {snapshot.replica}" if snapshot.replica else "the primary",
        )
