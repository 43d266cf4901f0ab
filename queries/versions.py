"""A configuration's history: every version, newest first. Versions outlive their
configuration, so the history of a deleted configuration stays readable."""

from psycopg2.extensions import cursor as Cursor

from infra.access import Among, among_param, visible_sql
from queries.views import Page, VersionView, page_of

VERSION_COLUMNS = "version, revision, name, comments, document::text AS config, secrets, created_at, actor"
# Outside a limited token's applications, a configuration's history is as if it had none.
VISIBLE = visible_sql("application_id")

# Keyset pages, newest first, over the (configuration_id, version) primary key.
VERSIONS_BEFORE = f"""
SELECT {VERSION_COLUMNS}
FROM configuration_versions
WHERE configuration_id = %(id)s AND (%(after)s::integer IS NULL OR version < %(after)s) AND {VISIBLE}
ORDER BY version DESC
OFFSET %(offset)s
LIMIT %(limit)s
"""

VERSION = f"""
SELECT {VERSION_COLUMNS}
FROM configuration_versions
WHERE configuration_id = %(id)s AND version = %(version)s AND {VISIBLE}
"""

HAS_HISTORY = f"SELECT 1 FROM configuration_versions WHERE configuration_id = %(id)s AND {VISIBLE} LIMIT 1"


def list_versions(
    cur: Cursor, id: str, limit: int, after: int | None = None, offset: int = 0, among: Among = None
) -> Page[VersionView] | None:
    """A page of the configuration's versions; None if no configuration ever had this id."""
    params = {"id": id, "after": after, "offset": offset, "limit": limit + 1, "applications": among_param(among)}
    cur.execute(VERSIONS_BEFORE, params)
    rows = cur.fetchall()
    if not rows and not _has_history(cur, id, among):
        return None
    return page_of(VersionView, rows, limit, key="version")


def get_version(cur: Cursor, id: str, version: int, among: Among = None) -> VersionView | None:
    cur.execute(VERSION, {"id": id, "version": version, "applications": among_param(among)})
    row = cur.fetchone()
    return None if row is None else VersionView(**row)


def _has_history(cur: Cursor, id: str, among: Among) -> bool:
    cur.execute(HAS_HISTORY, {"id": id, "applications": among_param(among)})
    return cur.fetchone() is not None
