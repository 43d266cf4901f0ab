"""The admin flows of a configuration's JSON Schema: read, set, remove, its versions, restoring
one. The configuration is found by name first, as in `_admin`; a precondition (`if_match`, or
`expected_version`: the schema's own version) travels as If-Match on the schema."""

from __future__ import annotations

from typing import Any

from config_client._admin import PAGE, AdminFlows
from config_client._protocol import API, Call, Flow, error_from, segment
from config_client.models import Schema, SchemaVersion

NO_SCHEMA = "no_schema"  # the service's code for a configuration without one


def json_schema(schema: Any) -> dict[str, Any]:
    """`schema` as a JSON Schema document: a dict as it is, or a pydantic model class's
    `model_json_schema()` (the application's settings class as the contract)."""
    if isinstance(schema, dict):
        return schema
    make = getattr(schema, "model_json_schema", None)
    if isinstance(schema, type) and callable(make):
        return make()
    raise TypeError(f"a schema is a dict (a JSON Schema) or a pydantic model class, not {schema!r}")


class SchemaFlows:
    def __init__(self, admin: AdminFlows) -> None:
        self.admin = admin

    def _path(self, application: str, name: str) -> Flow[str]:
        _, found = yield from self.admin.find_configuration(application, name)
        return f"{API}/configurations/{segment(found['id'])}/schema"

    def _condition(
        self, path: str, application: str, name: str, if_match: str | None, expected_version: int | None
    ) -> Flow[str | None]:
        what = f"the schema of configuration {application}/{name}"
        etag, _ = yield from self.admin.condition(path, what, if_match, expected_version)
        return etag

    def schema(self, application: str, name: str) -> Flow[Schema | None]:
        """The configuration's schema; None when it has none."""
        path = yield from self._path(application, name)
        response = yield from self.admin.send(Call("GET", path))
        if response.status_code == 200:
            return Schema.from_json(response.json(), response.headers.get("etag"))
        error = error_from(response)
        if error.code == NO_SCHEMA:
            return None
        raise error

    def set(
        self, application: str, name: str, schema: Any, if_match: str | None, expected_version: int | None
    ) -> Flow[Schema]:
        document = json_schema(schema)  # before any request: a wrong argument sends nothing
        path = yield from self._path(application, name)
        etag = yield from self._condition(path, application, name, if_match, expected_version)
        response = yield from self.admin.write("PUT", path, document, etag)
        return Schema.from_json(response.json(), response.headers.get("etag"))

    def delete(self, application: str, name: str, if_match: str | None, expected_version: int | None) -> Flow[None]:
        path = yield from self._path(application, name)
        etag = yield from self._condition(path, application, name, if_match, expected_version)
        yield from self.admin.write("DELETE", path, if_match=etag)

    def versions(self, application: str, name: str) -> Flow[list[SchemaVersion]]:
        path = yield from self._path(application, name)
        items = yield from self.admin.walk(f"{path}/versions", {"limit": PAGE})
        return [SchemaVersion.from_json(item) for item in items]

    def restore(
        self, application: str, name: str, version: int, if_match: str | None, expected_version: int | None
    ) -> Flow[Schema]:
        path = yield from self._path(application, name)
        etag = yield from self._condition(path, application, name, if_match, expected_version)
        response = yield from self.admin.write("POST", f"{path}/versions/{int(version)}/restore", if_match=etag)
        return Schema.from_json(response.json(), response.headers.get("etag"))
