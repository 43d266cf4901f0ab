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

A JSON Schema per configuration (every change of its document must satisfy it), from the
application's own settings class::

    client.set_schema("checkout", "production", Settings)   # Settings.model_json_schema()
    client.patch("checkout", "production", {"db": {"pool": "twenty"}})
    # SchemaViolation: ... body.config /db/pool: "twenty" is not of type "integer" [type]

`AsyncConfigClient` has the same methods, awaited. Errors are `ConfigServiceError`s:
`NotFound`, `Unauthorized`, `Forbidden`, `Conflict`, `PreconditionFailed`,
`ValidationError` (and its kinds `SchemaViolation`, `InvalidSchema`), `Unavailable`,
`InvalidConfiguration`.
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
    InvalidSchema,
    NotFound,
    PreconditionFailed,
    SchemaViolation,
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
    Schema,
    SchemaVersion,
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
    "InvalidSchema",
    "NotFound",
    "PreconditionFailed",
    "Rollout",
    "Schema",
    "SchemaVersion",
    "SchemaViolation",
    "Snapshot",
    "Unauthorized",
    "Unavailable",
    "ValidationError",
    "Version",
    "Watch",
    "__version__",
]
