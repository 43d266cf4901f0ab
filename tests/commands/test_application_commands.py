"""Application write handlers against PostgreSQL 16, each in its own transaction."""

import re

import pytest

from commands.applications import (
    CreateApplication,
    DeleteApplication,
    PatchApplication,
    UpdateApplication,
)
from commands.configurations import CreateConfiguration
from commands.errors import Conflict, NotFound, PreconditionFailed
from infra.ids import ULID_PATTERN
from infra.writes import CommandFailed, Statement
from tests.support import perform

MISSING_ID = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"


def count_named(db, name: str) -> int:
    def query(cur):
        cur.execute("SELECT count(*) AS n FROM applications WHERE name = %s", (name,))
        return cur.fetchone()["n"]

    return db.run_query(query)


def fields(row: dict) -> dict:
    return {key: row[key] for key in ("id", "name", "comments", "version")}


def test_create_application_stores_and_returns_the_row_as_version_1(db, unique):
    name = unique("billing")
    row = perform(db, CreateApplication(name, "pays the bills"))

    assert re.match(ULID_PATTERN, row["id"])
    assert fields(row) == {"id": row["id"], "name": name, "comments": "pays the bills", "version": 1}
    assert row["created_at"] == row["updated_at"]
    assert row["etag"].startswith(f"{row['revision']}-")
    assert count_named(db, name) == 1


def test_each_application_gets_a_new_ulid_and_a_later_revision(db, unique):
    first = perform(db, CreateApplication(unique()))
    second = perform(db, CreateApplication(unique()))
    assert first["id"] != second["id"]
    assert second["revision"] > first["revision"]


def test_duplicate_application_name_is_conflict_and_writes_nothing(db, unique):
    name = unique()
    perform(db, CreateApplication(name))

    with pytest.raises(Conflict, match="already exists"):
        perform(db, CreateApplication(name, "second"))
    assert count_named(db, name) == 1


def test_update_application_replaces_name_and_comments_as_the_next_version(db, unique):
    created = perform(db, CreateApplication(unique(), "old comments"))
    new_name = unique("renamed")

    row = perform(db, UpdateApplication(created["id"], new_name, None))

    assert fields(row) == {"id": created["id"], "name": new_name, "comments": None, "version": 2}
    assert row["created_at"] == created["created_at"] and row["updated_at"] > created["updated_at"]


def test_patch_application_changes_only_what_it_names(db, unique):
    created = perform(db, CreateApplication(unique(), "kept"))
    new_name = unique("renamed")

    renamed = perform(db, PatchApplication(created["id"], name=new_name))
    assert fields(renamed) == {"id": created["id"], "name": new_name, "comments": "kept", "version": 2}

    cleared = perform(db, PatchApplication(created["id"], comments=None, set_comments=True))
    assert fields(cleared) == {"id": created["id"], "name": new_name, "comments": None, "version": 3}


def test_update_missing_application_is_not_found(db, unique):
    with pytest.raises(NotFound):
        perform(db, UpdateApplication(MISSING_ID, unique()))
    with pytest.raises(NotFound):  # a condition changes nothing about a missing resource
        perform(db, UpdateApplication(MISSING_ID, unique(), if_match=("*",)))


def test_rename_to_a_taken_name_is_conflict_and_keeps_the_old_name(db, unique):
    taken = perform(db, CreateApplication(unique()))
    mine = perform(db, CreateApplication(unique()))

    with pytest.raises(Conflict):
        perform(db, UpdateApplication(mine["id"], taken["name"]))
    assert count_named(db, mine["name"]) == 1


def test_update_with_the_current_etag_applies_and_with_a_stale_one_changes_nothing(db, unique):
    created = perform(db, CreateApplication(unique()))
    updated = perform(db, UpdateApplication(created["id"], unique(), if_match=(created["etag"],)))
    assert updated["version"] == 2

    with pytest.raises(PreconditionFailed):
        perform(db, UpdateApplication(created["id"], unique(), if_match=(created["etag"],)))
    assert count_named(db, updated["name"]) == 1
    assert perform(db, UpdateApplication(created["id"], unique(), if_match=("*",)))["version"] == 3


def test_a_new_configuration_changes_the_applications_etag(db, unique):
    app = perform(db, CreateApplication(unique()))
    perform(db, CreateConfiguration(app["id"], unique(), {}))

    with pytest.raises(PreconditionFailed):
        perform(db, UpdateApplication(app["id"], unique(), if_match=(app["etag"],)))


def test_delete_application_without_configurations(db, unique):
    app = perform(db, CreateApplication(unique()))
    perform(db, DeleteApplication(app["id"], if_match=(app["etag"],)))
    assert count_named(db, app["name"]) == 0
    with pytest.raises(NotFound):
        perform(db, DeleteApplication(app["id"]))


def test_delete_application_with_configurations_is_conflict_saying_how_many(db, unique):
    app = perform(db, CreateApplication(unique()))
    for _ in range(2):
        perform(db, CreateConfiguration(app["id"], unique(), {}))

    with pytest.raises(Conflict, match="still has 2 configurations"):
        perform(db, DeleteApplication(app["id"]))
    assert count_named(db, app["name"]) == 1


def test_a_statement_that_fails_midway_leaves_nothing_behind(db, unique):
    name = unique()
    create_then_fail = Statement(
        "WITH a AS (INSERT INTO applications (id, name) VALUES (%(id)s, %(name)s) RETURNING id) "
        "SELECT to_jsonb(1 / 0) FROM a",
        {"id": CreateApplication(name).id, "name": name},
        outcome=lambda value: value,
    )

    with pytest.raises(CommandFailed, match="22012"):
        db.run_write(create_then_fail)
    assert count_named(db, name) == 0
