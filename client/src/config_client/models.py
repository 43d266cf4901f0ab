"""What the service returns, as typed, read-only objects.

Documents (`config`) are plain dicts. The client hands out the objects it keeps (a 304 costs
no parse), so treat them as read-only: `copy.deepcopy` a document before changing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = [
    "Application",
    "Change",
    "ClientReport",
    "Configuration",
    "Fleet",
    "FleetClient",
    "Rollout",
    "Schema",
    "SchemaVersion",
    "Snapshot",
    "Version",
]

_T = TypeVar("_T")


def _from_json(cls: type[_T], data: dict[str, Any], **extra: Any) -> _T:
    # Fields the service adds later are ignored, so an older client keeps working.
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names}, **extra)


@dataclass(frozen=True)
class Configuration:
    """A configuration: a named JSON document of an application, at one version.

    `etag` is the service's entity tag of this version (for `if_match=`); `stale` is True when
    it is a last-known-good copy (from the client's cache, or a service whose database is
    down) rather than known current.

    `release` is "immediate" (every change is live at once) or "staged" (clients get
    `live_version` until a rollout moves them). Read through `get`/`view`, `version` is the
    version this client is served; through the admin calls, the latest one.
    """

    id: str
    application_id: str
    name: str
    comments: str | None
    config: dict[str, Any]
    version: int
    created_at: str | None = None
    updated_at: str | None = None
    release: str = "immediate"
    live_version: int | None = None  # None from a service without staged releases
    # JSON Pointers of the secret values (shown as "********" to a token that may not see them).
    secrets: list[str] = field(default_factory=list)
    etag: str | None = field(default=None, compare=False)
    stale: bool = field(default=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], etag: str | None = None, stale: bool = False) -> Configuration:
        return _from_json(cls, data, etag=etag, stale=stale)


@dataclass(frozen=True)
class Application:
    """An application. `configuration_ids` is set when read alone (`client.application(name)`)."""

    id: str
    name: str
    comments: str | None
    version: int
    created_at: str | None = None
    updated_at: str | None = None
    configuration_ids: list[str] | None = None
    etag: str | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], etag: str | None = None) -> Application:
        return _from_json(cls, data, etag=etag)


@dataclass(frozen=True)
class Snapshot:
    """An application with every configuration it has, by name, as one consistent read."""

    application: Application
    configurations: dict[str, Configuration]
    etag: str | None = field(default=None, compare=False)
    stale: bool = field(default=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], etag: str | None = None, stale: bool = False) -> Snapshot:
        views = (Configuration.from_json(view) for view in data["configurations"])
        return cls(
            application=Application.from_json(data["application"]),
            configurations={view.name: view for view in views},
            etag=etag,
            stale=stale,
        )

    @property
    def documents(self) -> dict[str, dict[str, Any]]:
        """Each configuration's document, by name."""
        return {name: view.config for name, view in self.configurations.items()}


@dataclass(frozen=True)
class Version:
    """One version of a configuration, as it was made. `revision` numbers the change (see the feed)."""

    version: int
    revision: int
    name: str
    comments: str | None
    config: dict[str, Any]
    created_at: str
    actor: str | None = None
    secrets: list[str] = field(default_factory=list)  # JSON Pointers of its secret values

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        return _from_json(cls, data)


@dataclass(frozen=True)
class Schema:
    """A configuration's JSON Schema: every change of its document must satisfy `schema`.

    `draft` is the one its `$schema` names (2020-12 without one); `version` counts the
    schema's own changes (1 when first set, continuing after a removal); `revision` is the
    change that made it (see the feed), and `etag` its entity tag (for `if_match=`).
    """

    configuration_id: str
    schema: dict[str, Any]
    draft: str
    version: int
    revision: int
    created_at: str | None = None
    updated_at: str | None = None
    etag: str | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], etag: str | None = None) -> Schema:
        return _from_json(cls, data, etag=etag)


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a configuration's schema, as it was set, and who set it."""

    version: int
    revision: int
    schema: dict[str, Any]
    draft: str
    created_at: str
    actor: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SchemaVersion:
        return _from_json(cls, data)


@dataclass(frozen=True)
class Change:
    """One entry of the change feed: `action` on a `kind` at `revision`. Kinds: application and
    configuration (created, updated, deleted, restored), rollout (started, step, paused,
    resumed, rolled_back, promoted, completed: `id` is the rollout's, `version` the one it moves
    clients to, with `configuration_id`, `percent` and `reason`); the service may add others,
    so a reader skips what it does not know."""

    revision: int
    at: str
    action: str
    kind: str
    id: str
    application_id: str
    name: str
    version: int
    actor: str | None = None
    request_id: str | None = None
    configuration_id: str | None = None
    percent: int | None = None
    reason: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return _from_json(cls, data)


@dataclass(frozen=True)
class Rollout:
    """A staged rollout of a configuration's version: clients whose stable bucket is below
    `percent` get `to_version`, the others `from_version` (live when it started). `state` is
    running, paused, completed or rolled_back; `failures` counts the clients that reported
    they could not apply `to_version`, and more than `max_failures` of them roll it back."""

    id: str
    configuration_id: str
    from_version: int
    to_version: int
    steps: list[int]
    step_seconds: int
    max_failures: int
    percent: int
    state: str
    failures: int
    started_at: str
    next_step_at: str | None = None
    ended_at: str | None = None
    reason: str | None = None

    @property
    def active(self) -> bool:
        """Whether it is under way (running or paused)."""
        return self.state in ("running", "paused")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rollout:
        return _from_json(cls, data)


@dataclass(frozen=True)
class ClientReport:
    """What a client last said about applying a version: `ok`, and `message` when it failed."""

    version: int
    ok: bool
    message: str | None
    at: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientReport:
        return _from_json(cls, data)


@dataclass(frozen=True)
class FleetClient:
    """A client seen reading a configuration: the version it was served (or holds), when, and
    through which instance of the service; its last report, if any."""

    client_id: str
    version: int
    last_seen: str
    via_instance: str
    last_report: ClientReport | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetClient:
        report = data.get("last_report")
        return _from_json(cls, {**data, "last_report": None if report is None else ClientReport.from_json(report)})


@dataclass(frozen=True)
class Fleet:
    """The clients of a configuration seen lately (the service's CLIENT_TTL), and how many hold
    each version (`versions`: {version: clients})."""

    clients: list[FleetClient]
    versions: dict[int, int]
    configuration_id: str | None = None
    name: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], clients: list[FleetClient] | None = None) -> Fleet:
        return cls(
            clients=clients if clients is not None else [FleetClient.from_json(c) for c in data["clients"]],
            versions={int(version): count for version, count in data["versions"].items()},
            configuration_id=data.get("configuration_id"),
            name=data.get("name"),
        )
