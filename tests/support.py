"""Helpers shared by the test suites."""

from infra.database import Database
from infra.settings import Settings


def app_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for an app under test: never the developer's .env."""
    return Settings(_env_file=None, database_url=database_url, **overrides)


def database(database_url: str, **overrides: object) -> Database:
    """A Database for tests of the sides below the API; close it after use."""
    options = {
        "read_workers": 2,
        "write_workers": 2,
        "connect_timeout": 3,
        "statement_timeout_ms": 5000,
        "queue_max": 100,
        "queue_timeout": 5,
        **overrides,
    }
    return Database(database_url, **options)
