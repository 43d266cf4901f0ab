"""Application write handlers against PostgreSQL 16, each in its own transaction."""

import re

import pytest

from commands.applications import CreateApplication, UpdateApplication, create_application, update_application
from commands.errors import Conflict, NotFound
from infra.ids import ULID_PATTERN


def count_named(db, name: str) -> int:
    def query(cur):
        cur.execute("SELECT count(*) AS n FROM applications WHERE name = %s", (name,))
        return cur.fetchone()["n"]

    return db.run_query(query)


def test_create_application_stores_and_returns_the_row(db, unique):
    name = unique("billing")
    row = db.run_command(create_application, CreateApplication(name, "pays the bills"))

    assert re.match(ULID_PATTERN, row["id"])
    assert row == {"id": row["id"], "name": name, "comments": "pays the bills"}
    assert count_named(db, name) == 1


def test_each_application_gets_a_new_ulid(db, unique):
    first = db.run_command(create_application, CreateApplication(unique()))
    second = db.run_command(create_application, CreateApplication(unique()))
    assert first["id"] != second["id"]


def test_duplicate_application_name_is_conflict_and_writes_nothing(db, unique):
    name = unique()
    db.run_command(create_application, CreateApplication(name))

    with pytest.raises(Conflict, match="already exists"):
        db.run_command(create_application, CreateApplication(name, "second"))
    assert count_named(db, name) == 1


def test_update_application_replaces_name_and_comments(db, unique):
    created = db.run_command(create_application, CreateApplication(unique(), "old comments"))
    new_name = unique("renamed")

    row = db.run_command(update_application, UpdateApplication(created["id"], new_name, None))

    assert row == {"id": created["id"], "name": new_name, "comments": None}


def test_update_missing_application_is_not_found(db, unique):
    with pytest.raises(NotFound):
        db.run_command(update_application, UpdateApplication("01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", unique()))


def test_rename_to_a_taken_name_is_conflict_and_keeps_the_old_name(db, unique):
    taken = db.run_command(create_application, CreateApplication(unique()))
    mine = db.run_command(create_application, CreateApplication(unique()))

    with pytest.raises(Conflict):
        db.run_command(update_application, UpdateApplication(mine["id"], taken["name"]))
    assert count_named(db, mine["name"]) == 1


def test_a_command_that_fails_midway_leaves_nothing_behind(db, unique):
    name = unique()

    def create_then_fail(cmd, cur):
        create_application(cmd, cur)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        db.run_command(create_then_fail, CreateApplication(name))
    assert count_named(db, name) == 0
