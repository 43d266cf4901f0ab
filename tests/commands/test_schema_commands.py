"""Schemas on the write side: what a statement checks is what was validated, whatever another
instance (another command bus, with its own cache) did meanwhile."""

import asyncio
import json
import random

import jsonschema_rs
import pytest

from commands.applications import CreateApplication
from commands.bus import CommandBus
from commands.configurations import (
    CreateConfiguration,
    DeleteConfiguration,
    PatchConfiguration,
    UpdateConfiguration,
)
from commands.errors import InvalidSchema, SchemaViolations
from commands.restores import RestoreConfiguration
from commands.schemas import DeleteSchema, RestoreSchema, SetSchema
from infra.documents import Document
from infra.writes import Caller
from tests.support import perform

ONLY_A = Document.of({"properties": {"mode": {"const": "a"}}})
ONLY_B = Document.of({"properties": {"mode": {"const": "b"}}})


@pytest.fixture
def configuration(db, unique) -> dict:
    app = perform(db, CreateApplication(unique("app")))
    return perform(db, CreateConfiguration(app["id"], unique(), {"mode": "a"}))


def document(db, id: str) -> dict:
    def query(cur):
        cur.execute("SELECT config FROM configurations WHERE id = %s", (id,))
        return cur.fetchone()["config"]

    return db.run_query(query)


def test_a_write_from_an_instance_that_never_saw_the_schema_is_still_checked(db, configuration):
    id, name = configuration["id"], configuration["name"]
    mine, theirs = CommandBus(db), CommandBus(db)
    mine.run(UpdateConfiguration(id, name, {"mode": "a"}))  # remembers: no schema
    theirs.run(SetSchema(id, ONLY_A))

    with pytest.raises(SchemaViolations) as refused:
        mine.run(UpdateConfiguration(id, name, {"mode": "b"}))
    assert [(v.path, v.keyword) for v in refused.value.violations] == [("/mode", "const")]
    with pytest.raises(SchemaViolations):
        mine.run(PatchConfiguration(id, config_patch={"mode": "b"}))
    assert document(db, id) == {"mode": "a"}


def test_a_write_validated_against_a_schema_replaced_meanwhile_is_checked_against_the_new_one(db, configuration):
    id, name = configuration["id"], configuration["name"]
    mine, theirs = CommandBus(db), CommandBus(db)
    mine.run(SetSchema(id, Document.of({"properties": {"mode": {"enum": ["a", "b"]}}})))
    theirs.run(SetSchema(id, ONLY_A))

    # Valid under the schema this bus knows, not under the current one.
    with pytest.raises(SchemaViolations):
        mine.run(UpdateConfiguration(id, name, {"mode": "b"}))
    assert document(db, id) == {"mode": "a"}


def test_a_write_refused_by_a_schema_removed_meanwhile_goes_through(db, configuration):
    id, name = configuration["id"], configuration["name"]
    mine, theirs = CommandBus(db), CommandBus(db)
    mine.run(SetSchema(id, ONLY_A))
    theirs.run(DeleteSchema(id))

    mine.run(UpdateConfiguration(id, name, {"mode": "b"}))
    assert document(db, id) == {"mode": "b"}


def test_a_schema_is_checked_against_the_document_current_when_it_commits(db, configuration):
    id, name = configuration["id"], configuration["name"]
    bus = CommandBus(db)
    with pytest.raises(SchemaViolations) as refused:
        bus.run(SetSchema(id, ONLY_B))
    assert refused.value.location == "config"
    bus.run(UpdateConfiguration(id, name, {"mode": "b"}))
    bus.run(SetSchema(id, ONLY_B))
    with pytest.raises(SchemaViolations):  # version 1 has mode "a"
        bus.run(RestoreConfiguration(id, 1))


def test_an_invalid_schema_is_refused_before_anything_is_read(db, configuration):
    with pytest.raises(InvalidSchema):
        CommandBus(db).run(SetSchema(configuration["id"], Document.of({"type": 5})))


def test_who_changed_a_schema_is_recorded(db, configuration):
    bus = CommandBus(db)
    done = bus.run(SetSchema(configuration["id"], ONLY_A), Caller(actor="alice", request_id="r-1"))

    def query(cur):
        cur.execute(
            "SELECT kind, action, actor, request_id, version FROM changes WHERE revision = %s", (done.revision,)
        )
        change = cur.fetchone()
        cur.execute("SELECT actor FROM configuration_schema_versions WHERE revision = %s", (done.revision,))
        return change, cur.fetchone()

    change, version = db.run_query(query)
    assert change == {"kind": "schema", "action": "created", "actor": "alice", "request_id": "r-1", "version": 1}
    assert version == {"actor": "alice"}
    assert (done.kind, done.action, done.id, done.name) == (
        "schema",
        "created",
        configuration["id"],
        configuration["name"],
    )


def test_a_schema_survives_neither_its_configurations_deletion_nor_is_restored_with_it(db, configuration):
    id = configuration["id"]
    bus = CommandBus(db)
    bus.run(SetSchema(id, ONLY_A))
    bus.run(DeleteConfiguration(id))
    bus.run(RestoreConfiguration(id, 1))
    bus.run(UpdateConfiguration(id, configuration["name"], {"mode": "b"}))  # unguarded now
    with pytest.raises(SchemaViolations):  # its old schema, restored, refuses the document
        bus.run(RestoreSchema(id, 1))
    bus.run(UpdateConfiguration(id, configuration["name"], {"mode": "a"}))
    assert bus.run(RestoreSchema(id, 1)).row["version"] == 2


def test_racing_schema_changes_and_document_writes_never_leave_an_invalid_document(db, configuration):
    """Six instances (command buses, each with its own cache), each making 30 changes one
    after another, all at once: documents of mode a or b, schemas allowing only a, only b, or
    removed. Replayed in revision order, at no revision does the document fail the schema
    current then."""
    id, name = configuration["id"], configuration["name"]
    rng = random.Random(7)
    outcomes: dict[str, int] = {}

    async def instance() -> None:
        bus = CommandBus(db)
        for _ in range(30):
            choice = rng.choice(["a", "b", "patch", "A", "B", "-"])
            command = {
                "a": UpdateConfiguration(id, name, {"mode": "a"}),
                "b": UpdateConfiguration(id, name, {"mode": "b"}),
                "patch": PatchConfiguration(id, config_patch={"mode": rng.choice("ab")}),
                "A": SetSchema(id, ONLY_A),
                "B": SetSchema(id, ONLY_B),
                "-": DeleteSchema(id),
            }[choice]
            try:
                await bus.dispatch(command)
                result = "done"
            except Exception as exc:  # SchemaViolations; NoSchema for a removal that found none
                result = type(exc).__name__
            outcomes[result] = outcomes.get(result, 0) + 1

    async def race() -> None:
        await asyncio.gather(*(instance() for _ in range(6)))

    asyncio.run(race())
    assert outcomes.get("done", 0) > 40 and outcomes.get("SchemaViolations", 0) > 10, outcomes

    def history(cur):
        cur.execute(
            """SELECT revision, 'document' AS what, document::text AS text FROM configuration_versions
               WHERE configuration_id = %(id)s
               UNION ALL
               SELECT revision, 'schema', schema::text FROM configuration_schema_versions
               WHERE configuration_id = %(id)s
               UNION ALL
               SELECT revision, 'removed', NULL FROM changes
               WHERE id = %(id)s AND kind = 'schema' AND action = 'deleted'
               ORDER BY revision""",
            {"id": id},
        )
        return cur.fetchall()

    current, schema, checked = None, None, 0
    for row in db.run_query(history):
        if row["what"] == "document":
            current = json.loads(row["text"])
        elif row["what"] == "schema":
            schema = jsonschema_rs.validator_for(json.loads(row["text"]))
        else:
            schema = None
        if schema is not None:
            assert schema.is_valid(current), (row, current)
            checked += 1
    assert checked >= 5  # revisions made under a schema: the check above is not vacuous
