"""The configuration view."""

from commands.applications import CreateApplication, create_application
from commands.configurations import CreateConfiguration, create_configuration
from queries.configurations import get_configuration
from queries.views import ConfigurationView


def test_configuration_view_returns_the_document(db, unique):
    app = db.run_command(create_application, CreateApplication(unique("app")))
    config = {"feature": {"enabled": True, "ratio": 0.25}, "hosts": ["a", "b"], "big": 10**40}
    created = db.run_command(create_configuration, CreateConfiguration(app["id"], unique(), config, "why"))

    view = db.run_query(get_configuration, created["id"])

    assert view == ConfigurationView(
        id=created["id"], application_id=app["id"], name=created["name"], comments="why", config=config
    )


def test_unknown_configuration_has_no_view(db):
    assert db.run_query(get_configuration, "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4") is None
