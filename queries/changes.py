"""The change feed as stored: every accepted change, oldest first, by revision."""

from psycopg2.extensions import cursor as Cursor

from queries.views import ChangeView

# The primary key makes a page after any revision cost the same.
CHANGES_AFTER = """
SELECT revision, at, actor, request_id, action, kind, id, application_id, name, version
FROM changes
WHERE revision > %(after)s
  AND (%(applications)s::text[] IS NULL OR application_id = ANY(%(applications)s::text[]))
ORDER BY revision
LIMIT %(limit)s
"""

LATEST_REVISION = "SELECT coalesce(max(revision), 0) AS revision FROM changes"


def list_changes(cur: Cursor, after: int, limit: int, applications: tuple[str, ...] | None = None) -> list[ChangeView]:
    """Changes after revision `after`, oldest first; with `applications`, only theirs."""
    params = {"after": after, "limit": limit, "applications": None if applications is None else list(applications)}
    cur.execute(CHANGES_AFTER, params)
    return [ChangeView(**row) for row in cur.fetchall()]


def latest_revision(cur: Cursor) -> int:
    cur.execute(LATEST_REVISION)
    return cur.fetchone()["revision"]
