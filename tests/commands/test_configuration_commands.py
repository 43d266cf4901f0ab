"""Configuration write handlers against PostgreSQL 16."""

import pytest

from commands.applications import CreateApplication
from commands.configurations import (
    CreateConfiguration,
    DeleteConfiguration,
    PatchConfiguration,
    UpdateConfiguration,
)
from commands.errors import Conflict, InvalidCommand, NotFound, PreconditionFailed
from commands.restores import RestoreConfiguration
from tests.support import compact_json, perform

MISSING_ID = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"


@pytest.fixture
def application(db, unique) -> dict:
    return perform(db, CreateApplication(unique("app")))


def configurations_named(db, application_id: str, name: str) -> list[dict]:
    def query(cur):
        cur.execute("SELECT * FROM configurations WHERE application_id = %s AND name = %s", (application_id, name))
        return cur.fetchall()

    return db.run_query(query)


def test_create_configuration_stores_the_document(db, application, unique):
    config = {"url": "https://example.com", "retries": 3, "nested": {"on": True, "list": [1, "two", None]}}
    row = perform(db, CreateConfiguration(application["id"], unique(), config, "c"))

    assert row["application_id"] == application["id"]
    assert row["config"] == compact_json(config)  # the document's text, keys in the order written
    assert configurations_named(db, application["id"], row["name"])[0]["config"] == config


def test_configuration_of_a_missing_application_is_invalid_and_writes_nothing(db, unique):
    name = unique()
    with pytest.raises(InvalidCommand) as caught:
        perform(db, CreateConfiguration(MISSING_ID, name, {}))
    assert caught.value.field == "application_id"
    assert configurations_named(db, MISSING_ID, name) == []


def test_configuration_names_are_unique_per_application(db, application, unique):
    name = unique()
    perform(db, CreateConfiguration(application["id"], name, {"a": 1}))

    with pytest.raises(Conflict):
        perform(db, CreateConfiguration(application["id"], name, {"a": 2}))
    assert [row["config"] for row in configurations_named(db, application["id"], name)] == [{"a": 1}]

    other = perform(db, CreateApplication(unique("other")))
    assert perform(db, CreateConfiguration(other["id"], name, {}))["name"] == name


def test_update_configuration_replaces_name_comments_and_config(db, application, unique):
    created = perform(db, CreateConfiguration(application["id"], unique(), {"a": 1}, "c"))
    new_name = unique("renamed")

    row = perform(db, UpdateConfiguration(created["id"], new_name, {"b": [2]}))

    assert {key: row[key] for key in ("id", "application_id", "name", "comments", "config", "version")} == {
        "id": created["id"],
        "application_id": application["id"],
        "name": new_name,
        "comments": None,
        "config": '{"b":[2]}',
        "version": 2,
    }
    assert row["revision"] > created["revision"]


def test_update_with_the_same_application_id_is_allowed(db, application, unique):
    created = perform(db, CreateConfiguration(application["id"], unique(), {}))
    cmd = UpdateConfiguration(created["id"], created["name"], {"x": 1}, application_id=application["id"])
    assert perform(db, cmd)["config"] == '{"x":1}'


def test_moving_a_configuration_to_another_application_is_invalid_and_changes_nothing(db, application, unique):
    created = perform(db, CreateConfiguration(application["id"], unique(), {"a": 1}))
    other = perform(db, CreateApplication(unique("other")))

    cmd = UpdateConfiguration(created["id"], unique(), {"a": 2}, application_id=other["id"])
    with pytest.raises(InvalidCommand) as caught:
        perform(db, cmd)
    assert caught.value.field == "application_id"
    assert configurations_named(db, application["id"], created["name"])[0]["config"] == {"a": 1}


def test_update_missing_configuration_is_not_found(db, unique):
    with pytest.raises(NotFound):
        perform(db, UpdateConfiguration(MISSING_ID, unique(), {}))


def test_rename_to_a_name_taken_in_the_application_is_conflict(db, application, unique):
    taken = perform(db, CreateConfiguration(application["id"], unique(), {}))
    mine = perform(db, CreateConfiguration(application["id"], unique(), {}))

    with pytest.raises(Conflict):
        perform(db, UpdateConfiguration(mine["id"], taken["name"], {}))


def history(db, id: str) -> list[tuple]:
    def query(cur):
        cur.execute(
            "SELECT version, name, document::text FROM configuration_versions WHERE configuration_id = %s "
            "ORDER BY version",
            (id,),
        )
        return [tuple(row.values()) for row in cur.fetchall()]

    return db.run_query(query)


def current(db, id: str) -> dict | None:
    def query(cur):
        cur.execute("SELECT name, comments, document::text AS config, version FROM configurations WHERE id = %s", (id,))
        return cur.fetchone()

    return db.run_query(query)


@pytest.fixture
def configuration(db, application, unique) -> dict:
    document = {"keep": 1, "nested": {"a": 1, "b": 2}, "list": [1, 2, 3], "gone": True}
    return perform(db, CreateConfiguration(application["id"], unique(), document, "c"))


def test_every_change_adds_a_version_to_the_history(db, configuration):
    id, name = configuration["id"], configuration["name"]
    perform(db, UpdateConfiguration(id, name, {"v": 2}))
    perform(db, PatchConfiguration(id, config_patch={"w": 3}))

    assert history(db, id) == [
        (1, name, configuration["config"]),
        (2, name, '{"v":2}'),
        (3, name, '{"v":2,"w":3}'),
    ]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"gone": None}, {"keep": 1, "nested": {"a": 1, "b": 2}, "list": [1, 2, 3]}),  # null removes a key
        ({"nested": {"b": None, "c": 3}}, {"keep": 1, "nested": {"a": 1, "c": 3}, "list": [1, 2, 3], "gone": True}),
        ({"list": [9]}, {"keep": 1, "nested": {"a": 1, "b": 2}, "list": [9], "gone": True}),  # arrays replace
        ({"nested": "flat"}, {"keep": 1, "nested": "flat", "list": [1, 2, 3], "gone": True}),  # non-objects replace
        (
            {"keep": {"deep": {"x": None}}},
            {"keep": {"deep": {}}, "nested": {"a": 1, "b": 2}, "list": [1, 2, 3], "gone": True},
        ),
        ({"missing": None}, {"keep": 1, "nested": {"a": 1, "b": 2}, "list": [1, 2, 3], "gone": True}),
        ({}, {"keep": 1, "nested": {"a": 1, "b": 2}, "list": [1, 2, 3], "gone": True}),
    ],
)
def test_patch_merges_into_the_document_as_rfc_7396_says(db, configuration, patch, expected):
    row = perform(db, PatchConfiguration(configuration["id"], config_patch=patch))
    # The target's keys keep their order; new ones follow.
    assert row["config"] == compact_json(expected)
    assert current(db, configuration["id"])["config"] == compact_json(expected)


def test_patch_without_a_document_keeps_it_and_may_rename_or_clear_comments(db, configuration, unique):
    new_name = unique("renamed")
    row = perform(db, PatchConfiguration(configuration["id"], name=new_name, set_comments=True))
    assert (row["name"], row["comments"], row["config"]) == (new_name, None, configuration["config"])


def test_a_stale_if_match_changes_nothing(db, configuration):
    stale = (str(configuration["revision"]),)
    perform(db, PatchConfiguration(configuration["id"], config_patch={"n": 1}, if_match=stale))

    for cmd in (
        PatchConfiguration(configuration["id"], config_patch={"n": 2}, if_match=stale),
        UpdateConfiguration(configuration["id"], "x", {}, if_match=stale),
        DeleteConfiguration(configuration["id"], if_match=stale),
        RestoreConfiguration(configuration["id"], 1, if_match=stale),
    ):
        with pytest.raises(PreconditionFailed):
            perform(db, cmd)
    assert current(db, configuration["id"])["version"] == 2


def test_delete_keeps_the_history_and_frees_the_name(db, configuration, application):
    deleted = perform(db, DeleteConfiguration(configuration["id"]))

    assert deleted["revision"] > configuration["revision"]
    assert current(db, configuration["id"]) is None
    assert history(db, configuration["id"]) == [(1, configuration["name"], configuration["config"])]
    again = CreateConfiguration(application["id"], configuration["name"], {})
    assert perform(db, again)["name"] == configuration["name"]
    with pytest.raises(NotFound):
        perform(db, DeleteConfiguration(configuration["id"]))


def test_restore_makes_an_old_version_current_as_a_new_version(db, configuration, unique):
    id = configuration["id"]
    perform(db, UpdateConfiguration(id, unique("renamed"), {"v": 2}, "later"))

    row = perform(db, RestoreConfiguration(id, 1))

    assert (row["name"], row["comments"], row["config"], row["version"]) == (
        configuration["name"],
        "c",
        configuration["config"],
        3,
    )
    assert [version for version, _, _ in history(db, id)] == [1, 2, 3]


def test_restore_after_delete_brings_the_configuration_back_under_its_id(db, configuration):
    perform(db, DeleteConfiguration(configuration["id"]))

    row = perform(db, RestoreConfiguration(configuration["id"], 1))

    assert (row["id"], row["version"], row["config"]) == (configuration["id"], 2, configuration["config"])
    assert row["created_at"] == configuration["created_at"]
    assert current(db, configuration["id"])["version"] == 2


def test_restore_when_the_name_is_taken_again_is_conflict(db, configuration, application):
    perform(db, DeleteConfiguration(configuration["id"]))
    perform(db, CreateConfiguration(application["id"], configuration["name"], {}))

    with pytest.raises(Conflict, match="taken"):
        perform(db, RestoreConfiguration(configuration["id"], 1))
    assert current(db, configuration["id"]) is None


def test_restore_of_a_missing_version_or_configuration_is_not_found(db, configuration):
    with pytest.raises(NotFound, match="no version 7"):
        perform(db, RestoreConfiguration(configuration["id"], 7))
    with pytest.raises(NotFound, match="does not exist"):
        perform(db, RestoreConfiguration(MISSING_ID, 1))


def test_a_deleted_configuration_is_restored_only_without_a_condition(db, configuration):
    perform(db, DeleteConfiguration(configuration["id"]))
    with pytest.raises(PreconditionFailed):  # If-Match: * needs a current configuration
        perform(db, RestoreConfiguration(configuration["id"], 1, if_match=("*",)))
    assert current(db, configuration["id"]) is None
