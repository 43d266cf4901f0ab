"""Configuration write handlers against PostgreSQL 16."""

import pytest

from commands.applications import CreateApplication, create_application
from commands.configurations import (
    CreateConfiguration,
    UpdateConfiguration,
    create_configuration,
    update_configuration,
)
from commands.errors import Conflict, InvalidCommand, NotFound

MISSING_ID = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"


@pytest.fixture
def application(db, unique) -> dict:
    return db.run_command(create_application, CreateApplication(unique("app")))


def configurations_named(db, application_id: str, name: str) -> list[dict]:
    def query(cur):
        cur.execute("SELECT * FROM configurations WHERE application_id = %s AND name = %s", (application_id, name))
        return cur.fetchall()

    return db.run_query(query)


def test_create_configuration_stores_the_document(db, application, unique):
    config = {"url": "https://example.com", "retries": 3, "nested": {"on": True, "list": [1, "two", None]}}
    row = db.run_command(create_configuration, CreateConfiguration(application["id"], unique(), config, "c"))

    assert row["application_id"] == application["id"]
    assert row["config"] == config
    assert configurations_named(db, application["id"], row["name"])[0]["config"] == config


def test_configuration_of_a_missing_application_is_invalid_and_writes_nothing(db, unique):
    name = unique()
    with pytest.raises(InvalidCommand) as caught:
        db.run_command(create_configuration, CreateConfiguration(MISSING_ID, name, {}))
    assert caught.value.field == "application_id"
    assert configurations_named(db, MISSING_ID, name) == []


def test_configuration_names_are_unique_per_application(db, application, unique):
    name = unique()
    db.run_command(create_configuration, CreateConfiguration(application["id"], name, {"a": 1}))

    with pytest.raises(Conflict):
        db.run_command(create_configuration, CreateConfiguration(application["id"], name, {"a": 2}))
    assert [row["config"] for row in configurations_named(db, application["id"], name)] == [{"a": 1}]

    other = db.run_command(create_application, CreateApplication(unique("other")))
    assert db.run_command(create_configuration, CreateConfiguration(other["id"], name, {}))["name"] == name


def test_update_configuration_replaces_name_comments_and_config(db, application, unique):
    created = db.run_command(create_configuration, CreateConfiguration(application["id"], unique(), {"a": 1}, "c"))
    new_name = unique("renamed")

    row = db.run_command(update_configuration, UpdateConfiguration(created["id"], new_name, {"b": [2]}))

    assert row == {
        "id": created["id"],
        "application_id": application["id"],
        "name": new_name,
        "comments": None,
        "config": {"b": [2]},
    }


def test_update_with_the_same_application_id_is_allowed(db, application, unique):
    created = db.run_command(create_configuration, CreateConfiguration(application["id"], unique(), {}))
    cmd = UpdateConfiguration(created["id"], created["name"], {"x": 1}, application_id=application["id"])
    assert db.run_command(update_configuration, cmd)["config"] == {"x": 1}


def test_moving_a_configuration_to_another_application_is_invalid_and_changes_nothing(db, application, unique):
    created = db.run_command(create_configuration, CreateConfiguration(application["id"], unique(), {"a": 1}))
    other = db.run_command(create_application, CreateApplication(unique("other")))

    cmd = UpdateConfiguration(created["id"], unique(), {"a": 2}, application_id=other["id"])
    with pytest.raises(InvalidCommand) as caught:
        db.run_command(update_configuration, cmd)
    assert caught.value.field == "application_id"
    assert configurations_named(db, application["id"], created["name"])[0]["config"] == {"a": 1}


def test_update_missing_configuration_is_not_found(db, unique):
    with pytest.raises(NotFound):
        db.run_command(update_configuration, UpdateConfiguration(MISSING_ID, unique(), {}))


def test_rename_to_a_name_taken_in_the_application_is_conflict(db, application, unique):
    taken = db.run_command(create_configuration, CreateConfiguration(application["id"], unique(), {}))
    mine = db.run_command(create_configuration, CreateConfiguration(application["id"], unique(), {}))

    with pytest.raises(Conflict):
        db.run_command(update_configuration, UpdateConfiguration(mine["id"], taken["name"], {}))
