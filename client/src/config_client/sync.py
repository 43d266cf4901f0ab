"""`ConfigClient`: the blocking client."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, overload

import httpx

from config_client._admin import KEEP, AdminFlows, Keep
from config_client._core import Core
from config_client._drivers import drive
from config_client._protocol import Flow, T
from config_client._rollouts import RolloutFlows
from config_client._schema_admin import SchemaAdmin
from config_client._schemas import SchemaFlows
from config_client._staged import StagedReleases
from config_client._typed import M, check_model, check_watched_model
from config_client._watch_thread import Watch
from config_client.models import Application, Change, Configuration, Snapshot, Version

log = logging.getLogger("config_client")


class ConfigClient(StagedReleases, SchemaAdmin):
    """A blocking client of the Config Service, for client services and admin tools alike.

    Reading (the client-service side): `get`, `view`, `get_all` and `watch` read
    configurations by name. Every read is conditional once a version is held (a 304 costs no
    body and no parse), and with `cache_dir` every document read is also kept on disk, so
    that when the service cannot be reached (or answers 5xx) the last-known-good copy is
    returned instead, marked stale, with one warning logged. Reads and watches say who the
    client is (`client_id`): a staged configuration's rollout gives each client its version
    by it. A watch reports whether its callback applied each version; after a failure the
    client keeps serving the last good version.

    Administering: create, update, patch, delete and restore applications and
    configurations by name, their history and the change feed; `if_match=` or
    `expected_version=` make a change conditional (`PreconditionFailed` when it is not met).
    Staged releases: `set_release`, `start_rollout`, `pause_rollout`, `resume_rollout`,
    `rollback_rollout`, `promote_rollout`, `rollouts`, `rollout`; who holds which version:
    `fleet`, `application_fleet`. A configuration's JSON Schema, which every change of its
    document must satisfy (else `SchemaViolation`): `schema`, `set_schema` (from a dict or the
    application's pydantic settings class), `delete_schema`, `schema_history`,
    `restore_schema`.

    Args:
        base_url: the service's root, e.g. ``http://127.0.0.1:8000``.
        token: a bearer token (``cfs_...``), when the service requires one.
        cache_dir: a directory for the last-known-good copies; None keeps them in memory only.
        timeout: seconds to connect, and to wait for an answer.
        retries: how many times a failed request is repeated (reads always; writes only when
            they surely were not carried out) before `Unavailable` is raised.
        backoff: seconds before the first retry; doubling, with jitter, up to `max_backoff`.
        max_backoff: the longest wait between retries (and between a watch's attempts).
        client_id: who this client is (`X-Client-Id`): 1 to 128 visible ASCII characters,
            stable across restarts. Default: CONFIG_CLIENT_ID, else ``HOSTNAME/program``
            (made valid: other characters become ``_``, cut to 128).
        cache_key: encrypts the secret values of the copies in `cache_dir` (a configuration's
            `secrets`; at least 16 characters; needs ``config-service-client[encrypted-cache]``).
            Default: CONFIG_CLIENT_CACHE_KEY; without one, secret values are not written to
            disk, so a copy read back from it (during an outage, after a restart) lacks them.

    Use it as a context manager, or call `close()`, which also stops its watches. One client
    may be shared by threads.
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
        self._http = httpx.Client(**self._core.http_options())
        self._watches: list[Watch] = []
        self._watches_lock = threading.Lock()

    def _run(self, flow: Flow[T]) -> T:
        return drive(flow, self._http)

    @property
    def stale(self) -> bool:
        """True while any configuration this client holds is a last-known-good copy (from its
        cache, or from a service whose database is down) rather than known current."""
        return self._core.stale

    @property
    def client_id(self) -> str:
        """The id this client sends with its reads and watches (`X-Client-Id`) and reports."""
        return self._core.client_id

    # -- reading ------------------------------------------------------------------------

    @overload
    def get(self, application: str, name: str) -> dict[str, Any]: ...

    @overload
    def get(self, application: str, name: str, *, model: type[M]) -> M: ...

    def get(self, application: str, name: str, *, model: type[M] | None = None) -> dict[str, Any] | M:
        """The document (``config``) of configuration `name` of `application`.

        Raises NotFound when there is none, Unavailable when the service cannot answer and
        no copy is held. The dict is shared with the client's cache: do not change it.

        With `model` (a pydantic v2 model class, or any class with `model_validate`), the
        document as an instance of it; the same instance while the document is unchanged. A
        document that does not fit is never returned: the last one that did is (from memory,
        or from `cache_dir` after a restart), and why it does not fit is logged, once per
        document. InvalidConfiguration when no document that fits is known.
        """
        if model is None:
            return self.view(application, name).config
        check_model(model)
        return self._run(self._core.read_as((application, name), model))

    def view(self, application: str, name: str) -> Configuration:
        """The whole configuration: document, `version`, `etag`, and `stale` when it is a
        last-known-good copy rather than the service's current answer."""
        view = self._run(self._core.read((application, name)))
        assert isinstance(view, Configuration)
        return view

    def get_all(self, application: str) -> dict[str, dict[str, Any]]:
        """Every configuration of `application`, as {name: document}, from one consistent read."""
        return self.snapshot(application).documents

    def snapshot(self, application: str) -> Snapshot:
        """`get_all` with the views: the application and each configuration with its version."""
        snapshot = self._run(self._core.read((application, None)))
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
    ) -> Watch:
        """Calls `on_change` (in a background thread) with the new document on every change
        of configuration `name`, or with {name: document} on every change of any
        configuration of `application` when `name` is None. (A change that leaves the
        documents as they were, of comments say, is not called back.)

        It long-polls the service (`wait` seconds at a time, 1 to 60). If this client already
        holds the configuration (a `get` before), only later changes are called back;
        otherwise the first call brings the current document. Errors (the service down or
        restarting) are retried with exponential backoff and jitter, and the watch resumes
        from the last version it saw. `stop()` the returned Watch, or close the client.

        With `model` (see `get`), of a configuration `name`: called back with instances of
        it; a version that does not fit is skipped (and logged), the last good value kept.

        Each version called back is reported to the service (one attempt, never retried):
        applied when `on_change` returns, failed (with the exception's message) when it raises
        or the document does not fit `model`. Failures of a rollout's version roll it back.
        After a failure `get`, `view` and `get_all` keep returning the last version that
        applied (or was held before), until one applies again. An application's watch
        reports each staged configuration whose version changed.
        """
        if on_change is None:
            raise TypeError("watch() needs on_change=callback")
        check_watched_model(name, model)
        watch = Watch(self._core, (application, name), on_change, wait, model)
        with self._watches_lock:
            self._watches = [w for w in self._watches if w.running] + [watch]
        return watch

    # -- applications -------------------------------------------------------------------

    def applications(self, search: str | None = None) -> list[Application]:
        """Every application (whose name contains `search`, in any case), in creation order."""
        return self._run(self._admin.applications(search))

    def application(self, application: str) -> Application:
        """The application named so, with its configuration ids and its `etag`."""
        return self._run(self._admin.application(application))

    def create_application(self, name: str, comments: str | None = None) -> Application:
        """Creates an application; Conflict when the name is taken."""
        return self._run(self._admin.create_application(name, comments))

    def update_application(
        self,
        application: str,
        *,
        rename_to: str | None = None,
        comments: str | Keep | None = KEEP,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Application:
        """Replaces an application's name and comments (PUT); what is not given stays.

        `if_match` (an ETag) or `expected_version` make it conditional: PreconditionFailed
        when the application has changed since.
        """
        flow = self._admin.change_application("PUT", application, rename_to, comments, if_match, expected_version)
        return self._run(flow)

    def patch_application(
        self,
        application: str,
        *,
        rename_to: str | None = None,
        comments: str | Keep | None = KEEP,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Application:
        """Changes only the fields given (JSON merge patch); conditional as `update_application`."""
        flow = self._admin.change_application("PATCH", application, rename_to, comments, if_match, expected_version)
        return self._run(flow)

    def delete_application(
        self, application: str, *, if_match: str | None = None, expected_version: int | None = None
    ) -> None:
        """Deletes an application; Conflict while it has configurations."""
        self._run(self._admin.delete_application(application, if_match, expected_version))

    # -- configurations -----------------------------------------------------------------

    def configurations(self, application: str) -> list[Configuration]:
        """Every configuration of `application`, in creation order (read from the admin API)."""
        return self._run(self._admin.configurations(application))

    def configuration(self, application: str, name: str) -> Configuration:
        """One configuration as the admin API shows it, with its `etag` for `if_match=`."""
        return self._run(self._admin.configuration(application, name))

    def create(
        self,
        application: str,
        name: str,
        config: dict[str, Any],
        comments: str | None = None,
        *,
        release: str | None = None,
        secrets: list[str] | None = None,
    ) -> Configuration:
        """Creates configuration `name` of `application` with the document `config`;
        Conflict when the name is taken, ValidationError when the document is refused.
        `release="staged"`: its changes reach clients only through rollouts (see `set_release`).
        `secrets`: JSON Pointers of its secret values (stored encrypted, shown masked)."""
        return self._run(self._admin.create(application, name, config, comments, release, secrets))

    def update(
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
        """Replaces the document of a configuration (PUT), as a new version.

        Conditional with `if_match=etag` or `expected_version=n`: the change is made only if
        the configuration is still at that version, else PreconditionFailed and nothing
        changes (the check and the change are one step on the service). SchemaViolation (a
        ValidationError) when the document does not satisfy the configuration's schema: its
        `violations` say where (JSON Pointer), which keyword failed and why. "********" at a
        secret pointer keeps the value stored there; `secrets` replaces the list (None keeps it).
        """
        flow = self._admin.change(
            "PUT", application, name, config, comments, rename_to, if_match, expected_version, secrets
        )
        return self._run(flow)

    def patch(
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
        """Merges `config_patch` into the document (RFC 7396: a None value removes its key,
        objects merge, anything else replaces), as a new version; conditional as `update`."""
        flow = self._admin.change(
            "PATCH", application, name, config_patch, comments, rename_to, if_match, expected_version, secrets
        )
        return self._run(flow)

    def delete(
        self, application: str, name: str, *, if_match: str | None = None, expected_version: int | None = None
    ) -> None:
        """Deletes a configuration; its history stays, and `restore` brings it back."""
        self._run(self._admin.delete(application, name, if_match, expected_version))

    def restore(
        self,
        application: str,
        name: str,
        version: int,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Configuration:
        """Makes `version` current again, as a new version (a deleted configuration too)."""
        return self._run(self._admin.restore(application, name, version, if_match, expected_version))

    def history(self, application: str, name: str) -> list[Version]:
        """Every version of a configuration (a deleted one too), newest first."""
        return self._run(self._admin.history(application, name))

    def version(self, application: str, name: str, version: int) -> Version:
        """One version of a configuration."""
        return self._run(self._admin.version(application, name, version))

    def changes(self, after: int = 0, limit: int = 100, wait: float | None = None) -> list[Change]:
        """The change feed: up to `limit` changes after revision `after`, oldest first; with
        `wait` (1 to 60 s), held until there is one or the time passes."""
        return self._run(self._admin.changes(after, limit, wait))

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Stops every watch of this client and closes its connections."""
        with self._watches_lock:
            watches, self._watches = self._watches, []
        for watch in watches:
            watch.stop()
        self._http.close()

    def __enter__(self) -> ConfigClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
