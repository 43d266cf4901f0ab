"""`AsyncConfigClient`: the asyncio client, with the same methods as `ConfigClient`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, overload

import httpx

from config_client._admin import KEEP, AdminFlows, Keep
from config_client._core import Core, label
from config_client._drivers import drive_async, watch_ended
from config_client._protocol import Flow, T
from config_client._rollouts import RolloutFlows
from config_client._schema_admin import AsyncSchemaAdmin
from config_client._schemas import SchemaFlows
from config_client._staged import AsyncStagedReleases
from config_client._typed import M, check_model, check_watched_model
from config_client.models import Application, Change, Configuration, Snapshot, Version


class AsyncWatch:
    """A watch running as an asyncio task; `await stop()` ends it (so does closing its client)."""

    def __init__(self, task: asyncio.Task[None], what: str = "") -> None:
        self._task = task
        self._what = what
        self._error: BaseException | None = None
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():  # it ended on its own, which it never should: say why
            self._error = watch_ended(self._what, task.exception())

    @property
    def error(self) -> BaseException | None:
        """Why the watch ended on its own (logged as an error too), if it did; None while it
        runs and after `stop()`."""
        return self._error

    @property
    def running(self) -> bool:
        """Whether the watch is still running."""
        return not self._task.done()

    async def stop(self) -> None:
        """Cancels the watch and waits for it to end; no callback starts after this returns."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class AsyncConfigClient(AsyncStagedReleases, AsyncSchemaAdmin):
    """The asyncio twin of `ConfigClient`: the same arguments, the same methods (awaited),
    the same caching, last-known-good copies, client id, reports and typed errors. `watch`
    runs as a task of the running loop, and its callback may be a plain function or a
    coroutine function (a coroutine that raises is a failure to apply, reported as such).

    Use it as ``async with AsyncConfigClient(...) as client:``, or ``await client.close()``.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float = 5.0,
        *,
        retries: int = 2,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        client_id: str | None = None,
        cache_key: str | None = None,
    ) -> None:
        self._core = Core(base_url, token, cache_dir, timeout, retries, backoff, max_backoff, client_id, cache_key)
        self._admin = AdminFlows(self._core)  # sends through the same settings
        self._rollouts = RolloutFlows(self._admin)
        self._schemas = SchemaFlows(self._admin)
        self._http = httpx.AsyncClient(**self._core.http_options())
        self._watches: list[AsyncWatch] = []

    async def _run(self, flow: Flow[T]) -> T:
        return await drive_async(flow, self._http)

    @property
    def stale(self) -> bool:
        """True while any configuration this client holds is a last-known-good copy."""
        return self._core.stale

    @property
    def client_id(self) -> str:
        """The id this client sends with its reads and watches (`X-Client-Id`) and reports."""
        return self._core.client_id

    # -- reading ------------------------------------------------------------------------

    @overload
    async def get(self, application: str, name: str) -> dict[str, Any]: ...

    @overload
    async def get(self, application: str, name: str, *, model: type[M]) -> M: ...

    async def get(self, application: str, name: str, *, model: type[M] | None = None) -> dict[str, Any] | M:
        """The document of a configuration; with `model`, as an instance of it, never one that
        does not fit (see `ConfigClient.get`)."""
        if model is None:
            return (await self.view(application, name)).config
        check_model(model)
        return await self._run(self._core.read_as((application, name), model))

    async def view(self, application: str, name: str) -> Configuration:
        """The whole configuration, with `version`, `etag` and `stale` (see `ConfigClient.view`)."""
        view = await self._run(self._core.read((application, name)))
        assert isinstance(view, Configuration)
        return view

    async def get_all(self, application: str) -> dict[str, dict[str, Any]]:
        """Every configuration of `application`, as {name: document}."""
        return (await self.snapshot(application)).documents

    async def snapshot(self, application: str) -> Snapshot:
        """`get_all` with the views: the application and each configuration with its version."""
        snapshot = await self._run(self._core.read((application, None)))
        assert isinstance(snapshot, Snapshot)
        return snapshot

    def watch(
        self,
        application: str,
        name: str | None = None,
        on_change: Callable[[Any], Any] | None = None,
        *,
        wait: float = 30.0,
        model: type | None = None,
    ) -> AsyncWatch:
        """Starts a task calling `on_change` with the new document (or {name: document}; or an
        instance of `model`) on every change, reporting whether each applied (see
        `ConfigClient.watch`). Call it with the event loop running."""
        if on_change is None:
            raise TypeError("watch() needs on_change=callback")
        check_watched_model(name, model)
        key = (application, name)
        task = asyncio.create_task(self._run(self._core.watch(key, on_change, wait, model)))
        watch = AsyncWatch(task, label(key))
        self._watches = [w for w in self._watches if w.running] + [watch]
        return watch

    # -- applications -------------------------------------------------------------------

    async def applications(self, search: str | None = None) -> list[Application]:
        """Every application (whose name contains `search`), in creation order."""
        return await self._run(self._admin.applications(search))

    async def application(self, application: str) -> Application:
        """The application named so, with its configuration ids and its `etag`."""
        return await self._run(self._admin.application(application))

    async def create_application(self, name: str, comments: str | None = None) -> Application:
        """Creates an application; Conflict when the name is taken."""
        return await self._run(self._admin.create_application(name, comments))

    async def update_application(
        self,
        application: str,
        *,
        rename_to: str | None = None,
        comments: str | Keep | None = KEEP,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Application:
        """Replaces an application's name and comments (see `ConfigClient.update_application`)."""
        flow = self._admin.change_application("PUT", application, rename_to, comments, if_match, expected_version)
        return await self._run(flow)

    async def patch_application(
        self,
        application: str,
        *,
        rename_to: str | None = None,
        comments: str | Keep | None = KEEP,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Application:
        """Changes only the fields given (JSON merge patch)."""
        flow = self._admin.change_application("PATCH", application, rename_to, comments, if_match, expected_version)
        return await self._run(flow)

    async def delete_application(
        self, application: str, *, if_match: str | None = None, expected_version: int | None = None
    ) -> None:
        """Deletes an application; Conflict while it has configurations."""
        await self._run(self._admin.delete_application(application, if_match, expected_version))

    # -- configurations -----------------------------------------------------------------

    async def configurations(self, application: str) -> list[Configuration]:
        """Every configuration of `application`, in creation order."""
        return await self._run(self._admin.configurations(application))

    async def configuration(self, application: str, name: str) -> Configuration:
        """One configuration as the admin API shows it, with its `etag`."""
        return await self._run(self._admin.configuration(application, name))

    async def create(
        self,
        application: str,
        name: str,
        config: dict[str, Any],
        comments: str | None = None,
        *,
        release: str | None = None,
        secrets: list[str] | None = None,
    ) -> Configuration:
        """Creates a configuration (see `ConfigClient.create`)."""
        return await self._run(self._admin.create(application, name, config, comments, release, secrets))

    async def update(
        self,
        application: str,
        name: str,
        config: dict[str, Any],
        *,
        comments: str | Keep | None = KEEP,
        rename_to: str | None = None,
        if_match: str | None = None,
        expected_version: int | None = None,
        secrets: list[str] | None = None,
    ) -> Configuration:
        """Replaces the document of a configuration, optionally conditional (see `ConfigClient.update`)."""
        flow = self._admin.change(
            "PUT", application, name, config, comments, rename_to, if_match, expected_version, secrets
        )
        return await self._run(flow)

    async def patch(
        self,
        application: str,
        name: str,
        config_patch: dict[str, Any] | None = None,
        *,
        comments: str | Keep | None = KEEP,
        rename_to: str | None = None,
        if_match: str | None = None,
        expected_version: int | None = None,
        secrets: list[str] | None = None,
    ) -> Configuration:
        """Merges `config_patch` into the document (see `ConfigClient.patch`)."""
        flow = self._admin.change(
            "PATCH", application, name, config_patch, comments, rename_to, if_match, expected_version, secrets
        )
        return await self._run(flow)

    async def delete(
        self, application: str, name: str, *, if_match: str | None = None, expected_version: int | None = None
    ) -> None:
        """Deletes a configuration; its history stays."""
        await self._run(self._admin.delete(application, name, if_match, expected_version))

    async def restore(
        self,
        application: str,
        name: str,
        version: int,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Configuration:
        """Makes `version` current again, as a new version."""
        return await self._run(self._admin.restore(application, name, version, if_match, expected_version))

    async def history(self, application: str, name: str) -> list[Version]:
        """Every version of a configuration, newest first."""
        return await self._run(self._admin.history(application, name))

    async def version(self, application: str, name: str, version: int) -> Version:
        """One version of a configuration."""
        return await self._run(self._admin.version(application, name, version))

    async def changes(self, after: int = 0, limit: int = 100, wait: float | None = None) -> list[Change]:
        """The change feed after revision `after`, oldest first; with `wait`, held for the next."""
        return await self._run(self._admin.changes(after, limit, wait))

    # -- lifetime -----------------------------------------------------------------------

    async def close(self) -> None:
        """Stops every watch of this client and closes its connections."""
        watches, self._watches = self._watches, []
        for watch in watches:
            await watch.stop()
        await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncConfigClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()
