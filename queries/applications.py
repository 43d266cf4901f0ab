"""Application views: one, with its configuration ids, and the list, page by page."""

from psycopg2.extensions import cursor as Cursor

from queries.views import ApplicationSummary, ApplicationView, Page, page_of

# One statement, no N+1: the ids come from the (application_id, id) index alone, and so
# does the ETag's digest of them (migrations/0003).
APPLICATION_WITH_CONFIGURATION_IDS = """
SELECT a.id, a.name, a.comments, a.version, a.created_at, a.updated_at,
       ARRAY(SELECT c.id FROM configurations c WHERE c.application_id = a.id ORDER BY c.id)
           AS configuration_ids,
       application_etag(a.id, a.revision) AS etag
FROM applications a
WHERE a.id = %(id)s
"""

# Keyset pagination: a page costs the same however many applications come before it.
# OFFSET is there for clients that page by position; it costs what it skips.
APPLICATIONS_AFTER = """
SELECT id, name, comments, version, created_at, updated_at
FROM applications
WHERE %(after)s::varchar IS NULL OR id > %(after)s
ORDER BY id
OFFSET %(offset)s
LIMIT %(limit)s
"""


def get_application(cur: Cursor, id: str) -> ApplicationView | None:
    cur.execute(APPLICATION_WITH_CONFIGURATION_IDS, {"id": id})
    row = cur.fetchone()
    return None if row is None else ApplicationView(**row)


def list_applications(cur: Cursor, limit: int, after: str | None = None, offset: int = 0) -> Page[ApplicationSummary]:
    # One row more than asked tells whether another page follows.
    cur.execute(APPLICATIONS_AFTER, {"after": after, "offset": offset, "limit": limit + 1})
    return page_of(ApplicationSummary, cur.fetchall(), limit, key="id")
