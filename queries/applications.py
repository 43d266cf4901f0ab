"""Application views: one, with its configuration ids, and the list, page by page."""

from psycopg2.extensions import cursor as Cursor

from queries.views import ApplicationPage, ApplicationSummary, ApplicationView

# One statement, no N+1: the ids come from the (application_id, id) index alone.
APPLICATION_WITH_CONFIGURATION_IDS = """
SELECT a.id, a.name, a.comments,
       ARRAY(SELECT c.id FROM configurations c WHERE c.application_id = a.id ORDER BY c.id)
           AS configuration_ids
FROM applications a
WHERE a.id = %(id)s
"""

# Keyset pagination: a page costs the same however many applications come before it.
APPLICATIONS_AFTER = """
SELECT id, name, comments
FROM applications
WHERE %(after)s::varchar IS NULL OR id > %(after)s
ORDER BY id
LIMIT %(limit)s
"""


def get_application(cur: Cursor, id: str) -> ApplicationView | None:
    cur.execute(APPLICATION_WITH_CONFIGURATION_IDS, {"id": id})
    row = cur.fetchone()
    return None if row is None else ApplicationView(**row)


def list_applications(cur: Cursor, limit: int, after: str | None = None) -> ApplicationPage:
    # One row more than asked tells whether another page follows.
    cur.execute(APPLICATIONS_AFTER, {"after": after, "limit": limit + 1})
    rows = cur.fetchall()
    items = [ApplicationSummary(**row) for row in rows[:limit]]
    more = len(rows) > limit
    return ApplicationPage(items=items, next_after=items[-1].id if more else None)
