"""The schema methods of both clients: a configuration's JSON Schema, read, set (from a dict, or
from the application's pydantic settings class), removed, its versions and restoring one.
`ConfigClient` and `AsyncConfigClient` take them from these two classes (the same flows,
`_schemas`, driven blocking or awaited)."""

from __future__ import annotations

from typing import Any

from config_client._protocol import Flow
from config_client._schemas import SchemaFlows
from config_client.models import Schema, SchemaVersion


class SchemaAdmin:
    """Blocking: for `ConfigClient`."""

    _schemas: SchemaFlows

    def _run(self, flow: Flow[Any]) -> Any:  # the client's own
        raise NotImplementedError

    def schema(self, application: str, name: str) -> Schema | None:
        """The JSON Schema of a configuration (with its `version` and `etag`), or None when it
        has none. NotFound when the configuration does not exist."""
        return self._run(self._schemas.schema(application, name))

    def set_schema(
        self,
        application: str,
        name: str,
        schema: dict[str, Any] | type,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Schema:
        """Sets (or replaces) a configuration's JSON Schema: a dict, or a pydantic model class
        (its `model_json_schema()`). From then on every change of the document must satisfy
        it (else SchemaViolation, and nothing is written).

        InvalidSchema when it is not a valid JSON Schema; SchemaViolation when the current
        document does not satisfy it (nothing changes). Conditional with `if_match=` (the
        schema's etag; "*": only if it has one) or `expected_version=` (the schema's version):
        PreconditionFailed when the schema has changed since.
        """
        return self._run(self._schemas.set(application, name, schema, if_match, expected_version))

    def delete_schema(
        self, application: str, name: str, *, if_match: str | None = None, expected_version: int | None = None
    ) -> None:
        """Removes a configuration's schema (its history stays); NotFound (code `no_schema`)
        when it has none. Conditional as `set_schema`."""
        self._run(self._schemas.delete(application, name, if_match, expected_version))

    def schema_history(self, application: str, name: str) -> list[SchemaVersion]:
        """Every version of a configuration's schema, newest first."""
        return self._run(self._schemas.versions(application, name))

    def restore_schema(
        self,
        application: str,
        name: str,
        version: int,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Schema:
        """Makes an earlier version of the schema current again, as a new version (also after
        it was removed); SchemaViolation when the current document does not satisfy it."""
        return self._run(self._schemas.restore(application, name, version, if_match, expected_version))


class AsyncSchemaAdmin:
    """Awaited: for `AsyncConfigClient` (see `SchemaAdmin` for each method)."""

    _schemas: SchemaFlows

    async def _run(self, flow: Flow[Any]) -> Any:  # the client's own
        raise NotImplementedError

    async def schema(self, application: str, name: str) -> Schema | None:
        """The JSON Schema of a configuration, or None when it has none."""
        return await self._run(self._schemas.schema(application, name))

    async def set_schema(
        self,
        application: str,
        name: str,
        schema: dict[str, Any] | type,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Schema:
        """Sets a configuration's JSON Schema: a dict, or a pydantic model class."""
        return await self._run(self._schemas.set(application, name, schema, if_match, expected_version))

    async def delete_schema(
        self, application: str, name: str, *, if_match: str | None = None, expected_version: int | None = None
    ) -> None:
        """Removes a configuration's schema (its history stays)."""
        await self._run(self._schemas.delete(application, name, if_match, expected_version))

    async def schema_history(self, application: str, name: str) -> list[SchemaVersion]:
        """Every version of a configuration's schema, newest first."""
        return await self._run(self._schemas.versions(application, name))

    async def restore_schema(
        self,
        application: str,
        name: str,
        version: int,
        *,
        if_match: str | None = None,
        expected_version: int | None = None,
    ) -> Schema:
        """Makes an earlier version of the schema current again, as a new version."""
        return await self._run(self._schemas.restore(application, name, version, if_match, expected_version))
