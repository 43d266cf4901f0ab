"""The read model's client path: what client services read, by name, as each client is served
it (for a staged configuration, the version its rollout gives it), from memory; watched; and
served stale rather than not at all while the instance cannot follow the database.

`ClientPath` is a part of `queries.read_model.ReadModel`, split out by job: it reads what the
model holds and follows (its directory of names, releases, held views, records, watchers).
Everything here runs on the event loop thread.

`reveal`: whether the reader may see secret values (the client service's own token, a token
allowed to: api/auth.py decides); a configuration without secrets is read the same either way.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from infra.access import Among, visible
from queries.by_name import Missing, bundle_by_id, bundle_by_name, configuration_by_name
from queries.configurations import get_configuration, served_version
from queries.held_views import BUNDLE, CONFIGURATION, RELEASE, SERVED, SHOWN, Entry
from queries.views import digest, render_bundle


class ClientRead(NamedTuple):
    """An answer of the client path: the view, or what was missing; and whether it may be stale."""

    found: Entry | Missing
    stale: bool


class ClientPath:
    async def configuration_by_name(
        self, application: str, name: str, among: Among = None, client_id: str | None = None, reveal: bool = False
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
                entry = await self._for_client(id, client_id, stale, reveal)
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
            load = self._load_shown if reveal else self._load_view
            return ClientRead(await load(served_version, found.id, version) or Missing("configuration"), stale)
        return ClientRead(self._entry_for(found, reveal), stale)

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

    async def _for_client(self, id: str, client_id: str | None, stale: bool, reveal: bool = False) -> Entry | None:
        """A configuration's view as a client gets it, from memory when held (while stale: only
        then)."""
        views = self.views
        if views.fills:  # most reads find none in flight
            for key in (CONFIGURATION + id, RELEASE + id):
                pending = views.fills.get(key)
                if pending is not None:  # its release may be changing: as the database says, first
                    with contextlib.suppress(Exception):
                        await asyncio.shield(pending)
        version = self.releases.version_for(id, client_id)
        if version is None:
            key, load, args = CONFIGURATION + id, get_configuration, (id,)
        else:
            live = self.releases.get(id).live_version
            key, load, args = f"{SERVED}{id}:{version}:{live}", served_version, (id, version)
        # Held: answered without a coroutine (what _read would find first while listening).
        entry = views.held(key) if stale or self.listening else None
        if entry is None:
            entry = await self._read(key, self._load_view, load, *args)
        if reveal and entry is not None and entry.secret:
            key += SHOWN
            shown = self.views.held(key) if stale else None
            if shown is None:
                shown = await self._read(key, self._load_shown, load, *args)
            entry = shown or entry
        return entry

    async def bundle(
        self, application: str, among: Among = None, client_id: str | None = None, reveal: bool = False
    ) -> ClientRead:
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
                entry = await self._client_bundle(application_id, client_id, stale, reveal)
                if entry is not None:
                    return ClientRead(entry, stale)
            key = BUNDLE + application_id + (SHOWN if reveal else "")
            entry = self.views.held(key)
            if entry is None and key not in self.views.fills:
                # From the views held: while stale, the last ones known here.
                entry = self._assemble_bundle(application_id, reveal)
                if entry is not None and not stale:
                    self.views.keep(key, entry)
            if entry is None:
                entry = await self._read(key, self._load_bundle, bundle_by_id, application_id, reveal)
            if entry is not None:
                return ClientRead(entry, stale)
        elif self.loaded and not stale:
            return ClientRead(Missing("application"), stale)
        entry = await self._load_bundle(bundle_by_name, application, reveal)
        if entry is None or not visible(among, entry.application_id):
            return ClientRead(Missing("application"), stale)
        return ClientRead(entry, stale)

    def _has_staged(self, application_id: str) -> bool:
        return any(self.releases.get(id) is not None for _, id in self.directory.configurations_of(application_id))

    async def _client_bundle(
        self, application_id: str, client_id: str | None, stale: bool, reveal: bool
    ) -> Entry | None:
        """A bundle with staged configurations, put together for this client (not held: each
        client may get other versions; its parts are)."""
        record = self._records.get(application_id)
        if record is None:
            return None
        parts = []
        for _, id in sorted(self.directory.configurations_of(application_id)):
            entry = await self._for_client(id, client_id, stale, reveal)
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
