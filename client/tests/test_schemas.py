"""A configuration's JSON Schema through the client's admin calls (sync and async), against the
real service: set from the application's pydantic model, refused writes with each violation's
path, keyword and message, conditions, history and restore; and local validation."""

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from config_client import (
    AsyncConfigClient,
    InvalidSchema,
    NotFound,
    PreconditionFailed,
    Schema,
    SchemaViolation,
    ValidationError,
)
from config_client.errors import ErrorDetail
from config_client.schema_tools import violations


class Database(BaseModel):
    host: str
    pool: int = Field(ge=1, le=200)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db: Database
    log_level: Literal["debug", "info", "warning"] = "info"
    payments_url: HttpUrl


GOOD = {"db": {"host": "db.internal", "pool": 20}, "log_level": "info", "payments_url": "https://pay.example/v2"}
NUMBER = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}


def paths_and_keywords(error: SchemaViolation) -> list[tuple[str | None, str | None]]:
    return [(v.path, v.keyword) for v in error.violations]


def test_a_schema_from_the_settings_class_refuses_a_bad_write_with_each_path(admin, app):
    admin.create(app, "c", GOOD)
    schema = admin.set_schema(app, "c", Settings)
    assert isinstance(schema, Schema)
    assert schema.schema == Settings.model_json_schema() and list(schema.schema) == list(Settings.model_json_schema())
    assert (schema.version, schema.draft, schema.etag) == (1, "2020-12", f'"{schema.revision}"')

    with pytest.raises(SchemaViolation) as caught:
        admin.patch(app, "c", {"db": {"pool": "twenty"}, "log_level": "verbose", "typo": 1})
    error = caught.value
    assert isinstance(error, ValidationError) and (error.status, error.code) == (422, "schema_violation")
    assert paths_and_keywords(error) == [
        ("", "additionalProperties"),
        ("/db/pool", "type"),
        ("/log_level", "enum"),
    ]
    assert {v.location for v in error.violations} == {"body.config"}
    assert error.violations[1].message == '"twenty" is not of type "integer"'
    assert 'body.config /db/pool: "twenty" is not of type "integer" [type]' in str(error)
    assert admin.get(app, "c") == GOOD  # nothing was written

    with pytest.raises(SchemaViolation) as caught:  # a format is asserted, not only annotated
        admin.update(app, "c", {**GOOD, "payments_url": "not a url"})
    assert paths_and_keywords(caught.value) == [("/payments_url", "format")]
    assert admin.patch(app, "c", {"db": {"pool": 40}}).config["db"] == {"host": "db.internal", "pool": 40}


def test_reading_and_removing_a_schema(admin, app):
    admin.create(app, "c", {"n": 1})
    assert admin.schema(app, "c") is None
    admin.set_schema(app, "c", NUMBER)
    found = admin.schema(app, "c")
    assert found is not None and found.schema == NUMBER and list(found.schema["properties"]["n"]) == ["type", "minimum"]
    admin.delete_schema(app, "c")
    assert admin.schema(app, "c") is None
    assert admin.update(app, "c", {"n": "anything"}).config == {"n": "anything"}  # nothing guards it now
    with pytest.raises(NotFound) as caught:
        admin.delete_schema(app, "c")
    assert caught.value.code == "no_schema"
    with pytest.raises(NotFound) as caught:
        admin.schema(app, "missing")
    assert caught.value.code == "not_found"


def test_schema_changes_are_conditional(admin, app):
    admin.create(app, "c", {"n": 1})
    with pytest.raises(PreconditionFailed):  # "*": only if it has one
        admin.set_schema(app, "c", NUMBER, if_match="*")
    first = admin.set_schema(app, "c", NUMBER)
    looser = {**NUMBER, "required": []}
    second = admin.set_schema(app, "c", looser, if_match=first.etag)
    assert second.version == 2
    with pytest.raises(PreconditionFailed):  # the etag of a version gone
        admin.set_schema(app, "c", NUMBER, if_match=first.etag)
    with pytest.raises(PreconditionFailed) as caught:
        admin.delete_schema(app, "c", expected_version=1)
    assert caught.value.current_version == 2
    assert admin.schema(app, "c").schema == looser  # neither changed it
    assert admin.set_schema(app, "c", NUMBER, expected_version=2).version == 3
    admin.delete_schema(app, "c", if_match="*")
    assert admin.schema(app, "c") is None


def test_an_invalid_schema_or_one_the_document_fails_is_refused(admin, app):
    admin.create(app, "c", {"n": 0})
    with pytest.raises(InvalidSchema) as caught:
        admin.set_schema(app, "c", {"type": "object", "properties": {"n": {"type": "integr"}}})
    assert caught.value.code == "invalid_schema" and caught.value.details[0].path == "/properties/n/type"
    with pytest.raises(SchemaViolation) as caught:  # the current document has n = 0
        admin.set_schema(app, "c", NUMBER)
    assert [(v.location, v.path, v.keyword) for v in caught.value.violations] == [("config", "/n", "minimum")]
    assert admin.schema(app, "c") is None
    with pytest.raises(TypeError):  # neither a schema nor a model: nothing is sent
        admin.set_schema(app, "c", "a string")  # type: ignore[arg-type]


def test_a_schema_history_and_restoring_a_version(admin, app):
    admin.create(app, "c", {"n": 1})
    admin.set_schema(app, "c", NUMBER)
    admin.set_schema(app, "c", {"type": "object"})
    admin.delete_schema(app, "c")
    history = admin.schema_history(app, "c")
    assert [(v.version, v.schema) for v in history] == [(2, {"type": "object"}), (1, NUMBER)]
    assert history[0].revision > history[1].revision and history[1].created_at
    restored = admin.restore_schema(app, "c", 1)
    assert (restored.version, restored.schema) == (3, NUMBER)
    with pytest.raises(SchemaViolation):
        admin.update(app, "c", {"n": 0})
    with pytest.raises(PreconditionFailed):
        admin.restore_schema(app, "c", 2, expected_version=2)


def test_the_async_client_has_the_same_schema_calls(service, admin, app):
    admin.create(app, "c", GOOD)

    async def scenario():
        async with AsyncConfigClient(service.url) as client:
            none = await client.schema(app, "c")
            made = await client.set_schema(app, "c", Settings)
            try:
                await client.patch(app, "c", {"db": {"pool": 0}})
            except SchemaViolation as exc:
                refused = exc
            again = await client.set_schema(app, "c", NUMBER | {"required": []}, expected_version=1)
            restored = await client.restore_schema(app, "c", 1, if_match=again.etag)
            history = await client.schema_history(app, "c")
            await client.delete_schema(app, "c", expected_version=3)
            return none, made, refused, restored, history, await client.schema(app, "c")

    none, made, refused, restored, history, after = asyncio.run(scenario())
    assert none is None and after is None
    assert made.schema == Settings.model_json_schema() and restored.version == 3
    assert paths_and_keywords(refused) == [("/db/pool", "minimum")]
    assert [v.version for v in history] == [3, 2, 1]


# -- local validation (the client's `schema` extra) ---------------------------------------------


def test_a_document_is_checked_locally_as_the_service_would(admin, app):
    schema = Settings.model_json_schema()
    assert violations(schema, GOOD) == []
    bad = {"db": {"pool": "twenty"}, "log_level": "verbose", "payments_url": "not a url", "typo": 1}
    found = violations(schema, bad)
    assert [(v.path, v.keyword) for v in found] == [
        ("", "additionalProperties"),
        ("/db", "required"),
        ("/db/pool", "type"),
        ("/log_level", "enum"),
        ("/payments_url", "format"),
    ]
    assert found[2] == ErrorDetail("", '"twenty" is not of type "integer"', "/db/pool", "type")
    # The same violations the service reports for that document.
    admin.create(app, "c", GOOD)
    admin.set_schema(app, "c", schema)
    with pytest.raises(SchemaViolation) as caught:
        admin.update(app, "c", bad)
    assert [(v.path, v.keyword, v.message) for v in caught.value.violations] == [
        (v.path, v.keyword, v.message) for v in found
    ]


def test_pointers_escape_and_a_remote_ref_is_never_fetched():
    schema = {"type": "object", "properties": {"a/b": {"properties": {"c~d": {"type": "string"}}}}}
    assert [v.path for v in violations(schema, {"a/b": {"c~d": 1}})] == ["/a~1b/c~0d"]
    assert [v.path for v in violations({"items": {"type": "string"}}, ["x", 2])] == ["/1"]
    with pytest.raises(ValueError, match="never fetched"):
        violations({"$ref": "https://schemas.example/settings.json"}, {})
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        violations({"type": "integr"}, {})
