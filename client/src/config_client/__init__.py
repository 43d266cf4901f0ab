"""Python client of the Config Service.

Read configuration (client services)::

    from config_client import ConfigClient

    client = ConfigClient("http://config.internal:8000", cache_dir="/var/cache/myservice")
    settings = client.get("checkout", "production")          # the JSON document, a dict
    client.watch("checkout", "production", on_change=apply)  # called on every change

Administer (admin tools)::

    client.update("checkout", "production", {"db_pool": 40}, expected_version=3)

Typed (any pydantic v2 model; never a document that does not fit it)::

    settings = client.get("checkout", "production", model=Settings)

Staged releases (a change reaches a growing share of clients; their failure reports roll it
back)::

    client.set_release("checkout", "production", "staged")
    client.start_rollout("checkout", "production", version=4, steps=(10, 50, 100), step_seconds=60)
    client.fleet("checkout", "production").versions  # {3: 90, 4: 10}

`AsyncConfigClient` has the same methods, awaited. Errors are `ConfigServiceError`s:
`NotFound`, `Unauthorized`, `Forbidden`, `Conflict`, `PreconditionFailed`,
`ValidationError`, `Unavailable`, `InvalidConfiguration`.
"""

from config_client._admin import KEEP
from config_client._version import __version__
from config_client.aio import AsyncConfigClient, AsyncWatch
from config_client.errors import (
    ConfigServiceError,
    Conflict,
    ErrorDetail,
    Forbidden,
    InvalidConfiguration,
    NotFound,
    PreconditionFailed,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from config_client.models import (
    Application,
    Change,
    ClientReport,
    Configuration,
    Fleet,
    FleetClient,
    Rollout,
    Snapshot,
    Version,
)
from config_client.sync import ConfigClient, Watch

__all__ = [
    "KEEP",
    "Application",
    "AsyncConfigClient",
    "AsyncWatch",
    "Change",
    "ClientReport",
    "ConfigClient",
    "ConfigServiceError",
    "Configuration",
    "Conflict",
    "ErrorDetail",
    "Fleet",
    "FleetClient",
    "Forbidden",
    "InvalidConfiguration",
    "NotFound",
    "PreconditionFailed",
    "Rollout",
    "Snapshot",
    "Unauthorized",
    "Unavailable",
    "ValidationError",
    "Version",
    "Watch",
    "__version__",
]
