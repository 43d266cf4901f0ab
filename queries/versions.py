"""A configuration's history: every version, newest first. Versions outlive their
configuration, so the history of a deleted configuration stays readable."""

from psycopg2.extensions import cursor as Cursor

from queries.views import Page, VersionView, page_of

VERSION_COLUMNS = "version, revision, name, comments, config, created_at, actor"

# Keyset pages, newest first, over the (configuration_id, version) primary key.
VERSIONS_BEFORE = f"""
SELECT {VERSION_COLUMNS}
FROM configuration_versions
WHERE configuration_id = %(id)s AND (%(after)s::integer IS NULL OR version < %(after)s)
ORDER BY version DESC
OFFSET %(offset)s
LIMIT %(limit)s
"""

VERSION = f"""
SELECT {VERSION_COLUMNS}
FROM configuration_versions
WHERE configuration_id = %(id)s AND version = %(version)s
"""

HAS_HISTORY = "SELECT 1 FROM configuration_versions WHERE configuration_id = %(id)s LIMIT 1"


def list_versions(
    cur: Cursor, id: str, limit: int, after: int | None = None, offset: int = 0
) -> Page[VersionView] | None:
    """A page of the configuration's versions; None if no configuration ever had this id."""
    cur.execute(VERSIONS_BEFORE, {"id": id, "after": after, "offset": offset, "limit": limit + 1})
    rows = cur.fetchall()
    if not rows and not _has_history(cur, id):
        return None
    return page_of(VersionView, rows, limit, key="version")


def get_version(cur: Cursor, id: str, version: int) -> VersionView | None:
    cur.execute(VERSION, {"id": id, "version": version})
    row = cur.fetchone()
    return None if row is None else VersionView(**row)


def _has_history(cur: Cursor, id: str) -> bool:
    cur.execute(HAS_HISTORY, {"id": id})
    return cur.fetchone() is not None
