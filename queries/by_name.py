"""The client path from the database: a configuration by its application's name and its own,
and an application's bundle. The read model answers these from memory when it can."""

from dataclasses import dataclass, field

from psycopg2.extensions import cursor as Cursor

from queries.configurations import CONFIGURATION_COLUMNS
from queries.views import ApplicationBrief, ConfigurationView

CONFIGURATION_BY_NAME = f"""
SELECT a.id AS app_id, c.*
FROM applications a
LEFT JOIN LATERAL (
    SELECT {CONFIGURATION_COLUMNS} FROM configurations
    WHERE application_id = a.id AND name = %(name)s
) c ON true
WHERE a.name = %(application)s
"""

_BUNDLE = f"""
SELECT a.id, a.name, a.comments, a.version,
       coalesce((
           SELECT json_agg(c ORDER BY c.name COLLATE "C")  -- the order of Python's sort, in memory
           FROM (SELECT {CONFIGURATION_COLUMNS} FROM configurations WHERE application_id = a.id) c
       ), '[]') AS configurations
FROM applications a
"""
BUNDLE_BY_NAME = _BUNDLE + "WHERE a.name = %(key)s"
BUNDLE_BY_ID = _BUNDLE + "WHERE a.id = %(key)s"


@dataclass(frozen=True)
class Missing:
    """What a name did not find: 'application' or 'configuration' (then of which application,
    so that a token limited to other applications learns nothing from the difference)."""

    what: str
    application_id: str | None = field(default=None, compare=False)


def configuration_by_name(cur: Cursor, application: str, name: str) -> ConfigurationView | Missing:
    cur.execute(CONFIGURATION_BY_NAME, {"application": application, "name": name})
    row = cur.fetchone()
    if row is None:
        return Missing("application")
    if row["id"] is None:
        return Missing("configuration", row["app_id"])
    del row["app_id"]
    return ConfigurationView(**row)


Bundle = tuple[ApplicationBrief, list[ConfigurationView]]


def bundle_by_name(cur: Cursor, application: str) -> Bundle | None:
    return _bundle(cur, BUNDLE_BY_NAME, application)


def bundle_by_id(cur: Cursor, application_id: str) -> Bundle | None:
    return _bundle(cur, BUNDLE_BY_ID, application_id)


def _bundle(cur: Cursor, sql: str, key: str) -> Bundle | None:
    cur.execute(sql, {"key": key})
    row = cur.fetchone()
    if row is None:
        return None
    configurations = [ConfigurationView(**item) for item in row.pop("configurations")]
    return ApplicationBrief(**row), configurations
