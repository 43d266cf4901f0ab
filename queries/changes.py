"""The change feed as stored: every accepted change, oldest first, by revision."""

from psycopg2.extensions import cursor as Cursor

from infra.access import Among, among_param, visible_sql
from queries.views import ChangeView

# The primary key makes a page after any revision cost the same.
CHANGES_AFTER = f"""
SELECT revision, at, actor, request_id, action, kind, id, application_id, name, version,
       configuration_id, percent, reason
FROM changes
WHERE revision > %(after)s
  AND {visible_sql("application_id")}
ORDER BY revision
LIMIT %(limit)s
"""

LATEST_REVISION = "SELECT coalesce(max(revision), 0) AS revision FROM changes"


def list_changes(cur: Cursor, after: int, limit: int, among: Among = None) -> list[ChangeView]:
    """Changes after revision `after`, oldest first; with `among`, only those applications'."""
    params = {"after": after, "limit": limit, "applications": among_param(among)}
    cur.execute(CHANGES_AFTER, params)
    return [ChangeView(**row) for row in cur.fetchall()]


def latest_revision(cur: Cursor) -> int:
    cur.execute(LATEST_REVISION)
    return cur.fetchone()["revision"]
