"""What the service returns, as typed, read-only objects.

Documents (`config`) are plain dicts. The client hands out the objects it keeps (a 304 costs
no parse), so treat them as read-only: `copy.deepcopy` a document before changing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = ["Application", "Change", "Configuration", "Snapshot", "Version"]

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
    """

    id: str
    application_id: str
    name: str
    comments: str | None
    config: dict[str, Any]
    version: int
    created_at: str | None = None
    updated_at: str | None = None
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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        return _from_json(cls, data)


@dataclass(frozen=True)
class Change:
    """One entry of the change feed: `action` (created, updated, deleted, restored) on a `kind`
    (application, configuration) at `revision`."""

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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return _from_json(cls, data)
