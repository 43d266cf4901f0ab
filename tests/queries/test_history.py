"""A configuration's history and the stored change feed, page by page."""

import pytest

from commands.applications import CreateApplication
from commands.configurations import (
    CreateConfiguration,
    DeleteConfiguration,
    UpdateConfiguration,
)
from infra.writes import Caller
from queries.changes import latest_revision, list_changes
from queries.versions import get_version, list_versions
from tests.support import perform


@pytest.fixture
def configuration(db, unique) -> dict:
    app = perform(db, CreateApplication(unique("app")))
    created = perform(db, CreateConfiguration(app["id"], unique(), {"v": 1}))
    for v in range(2, 6):
        perform(
            db,
            UpdateConfiguration(created["id"], created["name"], {"v": v}),
            Caller(actor=f"admin-{v}"),
        )
    return created


def test_versions_come_newest_first_page_by_page(db, configuration):
    first = db.run_query(list_versions, configuration["id"], 2)
    second = db.run_query(list_versions, configuration["id"], 2, int(first.next_after))
    last = db.run_query(list_versions, configuration["id"], 2, int(second.next_after))

    assert [v.version for v in first.items] == [5, 4] and first.next_after == "4"
    assert [v.version for v in second.items] == [3, 2]
    assert [v.version for v in last.items] == [1] and last.next_after is None
    assert [v.config for v in first.items] == ['{"v":5}', '{"v":4}']
    assert [v.actor for v in second.items] == ["admin-3", "admin-2"]
    assert [v.version for v in db.run_query(list_versions, configuration["id"], 10, None, 3).items] == [2, 1]


def test_one_version_and_a_missing_one(db, configuration):
    version = db.run_query(get_version, configuration["id"], 1)
    assert (version.version, version.config, version.revision, version.actor) == (
        1,
        '{"v":1}',
        configuration["revision"],
        None,
    )
    assert db.run_query(get_version, configuration["id"], 6) is None


def test_history_outlives_the_configuration(db, configuration):
    perform(db, DeleteConfiguration(configuration["id"]))
    assert len(db.run_query(list_versions, configuration["id"], 10).items) == 5
    assert db.run_query(list_versions, "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", 10) is None


def test_the_stored_feed_pages_after_a_revision_oldest_first(db, configuration):
    changes = db.run_query(list_changes, configuration["revision"] - 1, 3)
    assert [(c.revision, c.action, c.version) for c in changes] == [
        (configuration["revision"], "created", 1),
        (configuration["revision"] + 1, "updated", 2),
        (configuration["revision"] + 2, "updated", 3),
    ]
    assert changes[1].actor == "admin-2"
    assert db.run_query(latest_revision) >= configuration["revision"] + 4
    assert db.run_query(list_changes, db.run_query(latest_revision), 10) == []
