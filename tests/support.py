"""Helpers shared by the test suites."""

from infra.settings import Settings


def app_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for an app under test: never the developer's .env."""
    return Settings(_env_file=None, database_url=database_url, **overrides)
