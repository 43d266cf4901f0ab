"""The configuration view."""

from commands.applications import CreateApplication
from commands.configurations import CreateConfiguration
from queries.configurations import get_configuration, list_configurations
from queries.views import ConfigurationView
from tests.support import compact_json, perform


def test_configuration_view_returns_the_document(db, unique):
    app = perform(db, CreateApplication(unique("app")))
    config = {"feature": {"enabled": True, "ratio": 0.25}, "hosts": ["a", "b"], "big": 10**40}
    created = perform(db, CreateConfiguration(app["id"], unique(), config, "why"))

    view = db.run_query(get_configuration, created["id"])

    assert view == ConfigurationView(
        id=created["id"],
        application_id=app["id"],
        name=created["name"],
        comments="why",
        config=compact_json(config),  # the stored text, sent as it is
        version=1,
        created_at=created["created_at"],
        updated_at=created["updated_at"],
        release="immediate",
        live_version=1,
        revision=created["revision"],
    )
    assert view.etag == str(created["revision"])


def test_unknown_configuration_has_no_view(db):
    assert db.run_query(get_configuration, "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4") is None


def test_an_applications_configurations_come_in_id_order_page_by_page(db, unique):
    app = perform(db, CreateApplication(unique("app")))
    made = [perform(db, CreateConfiguration(app["id"], unique(), {}))["id"] for _ in range(5)]
    ids = sorted(made)  # ULIDs made within one millisecond need not come in order

    first = db.run_query(list_configurations, app["id"], 3)
    rest = db.run_query(list_configurations, app["id"], 3, first.next_after)

    assert [c.id for c in first.items] == ids[:3] and first.next_after == ids[2]
    assert [c.id for c in rest.items] == ids[3:] and rest.next_after is None
    assert [c.id for c in db.run_query(list_configurations, app["id"], 10, None, 4).items] == ids[4:]


def test_an_application_without_configurations_has_an_empty_page_and_a_missing_one_none(db, unique):
    app = perform(db, CreateApplication(unique("app")))
    assert db.run_query(list_configurations, app["id"], 10).items == []
    assert db.run_query(list_configurations, "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", 10) is None
