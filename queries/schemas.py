"""A configuration's JSON Schema and its history (every version, newest first, kept after the
schema or its configuration is gone). Read from the database: schemas are an admin's
business, rarely read, and the write side keeps its own compiled copies."""

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

from infra.access import Among, among_param, visible_sql
from queries.views import Page, SchemaVersionView, SchemaView, page_of

SCHEMA = f"""
SELECT c.id AS found, s.configuration_id, s.schema::text AS schema, s.draft, s.version, s.revision,
       s.created_at, s.updated_at
FROM configurations c
LEFT JOIN configuration_schemas s ON s.configuration_id = c.id
WHERE c.id = %(id)s AND {visible_sql("c.application_id")}
"""

VERSION_COLUMNS = "version, revision, schema::text AS schema, draft, created_at, actor"
VISIBLE = visible_sql("application_id")

VERSIONS_BEFORE = f"""
SELECT {VERSION_COLUMNS}
FROM configuration_schema_versions
WHERE configuration_id = %(id)s AND (%(after)s::integer IS NULL OR version < %(after)s) AND {VISIBLE}
ORDER BY version DESC
OFFSET %(offset)s
LIMIT %(limit)s
"""

VERSION = f"""
SELECT {VERSION_COLUMNS}
FROM configuration_schema_versions
WHERE configuration_id = %(id)s AND version = %(version)s AND {VISIBLE}
"""

# Whether the configuration (or its history, after its deletion) is known to the reader.
KNOWN = f"""
SELECT 1 FROM configuration_versions
WHERE configuration_id = %(id)s AND {visible_sql("application_id")}
LIMIT 1
"""


@dataclass(frozen=True)
class SchemaOf:
    """What a configuration's schema route finds: whether the configuration exists, its schema."""

    exists: bool
    schema: SchemaView | None = None


def get_schema(cur: Cursor, id: str, among: Among = None) -> SchemaOf:
    cur.execute(SCHEMA, {"id": id, "applications": among_param(among)})
    row = cur.fetchone()
    if row is None:
        return SchemaOf(False)
    if row["configuration_id"] is None:
        return SchemaOf(True)
    del row["found"]
    return SchemaOf(True, SchemaView(**row))


def list_schema_versions(
    cur: Cursor, id: str, limit: int, after: int | None = None, offset: int = 0, among: Among = None
) -> Page[SchemaVersionView] | None:
    """A page of the schema's versions, newest first; None if no configuration ever had this id
    (an empty page if it never had a schema)."""
    params = {"id": id, "after": after, "offset": offset, "limit": limit + 1, "applications": among_param(among)}
    cur.execute(VERSIONS_BEFORE, params)
    rows = cur.fetchall()
    if not rows and not _known(cur, id, among):
        return None
    return page_of(SchemaVersionView, rows, limit, key="version")


def get_schema_version(cur: Cursor, id: str, version: int, among: Among = None) -> SchemaVersionView | None:
    cur.execute(VERSION, {"id": id, "version": version, "applications": among_param(among)})
    row = cur.fetchone()
    return None if row is None else SchemaVersionView(**row)


def _known(cur: Cursor, id: str, among: Among) -> bool:
    cur.execute(KNOWN, {"id": id, "applications": among_param(among)})
    return cur.fetchone() is not None
