"""Application views: one, with its configuration ids, and the list, page by page."""

from psycopg2.extensions import cursor as Cursor

from infra.access import Among, among_param, visible_sql
from queries.views import ApplicationSummary, ApplicationView, Page, page_of

# One statement, no N+1: the ids come from the (application_id, id) index alone, and so
# does the ETag's digest of them (migrations/0003).
APPLICATION_VIEWS = """
SELECT a.id, a.name, a.comments, a.version, a.created_at, a.updated_at,
       ARRAY(SELECT c.id FROM configurations c WHERE c.application_id = a.id ORDER BY c.id)
           AS configuration_ids,
       application_etag(a.id, a.revision) AS etag
FROM applications a
"""
APPLICATION_WITH_CONFIGURATION_IDS = APPLICATION_VIEWS + "WHERE a.id = %(id)s"

# An application's own fields: the read model puts its view together from these and the
# configuration ids it holds.
APPLICATION_RECORD_COLUMNS = "id, name, comments, version, created_at, updated_at, revision"
APPLICATION_RECORDS = f"SELECT {APPLICATION_RECORD_COLUMNS} FROM applications"

# Keyset pagination: a page costs the same however many applications come before it.
# OFFSET is there for clients that page by position; it costs what it skips. The count and
# the latest change come from indexes, per application of the page.
APPLICATIONS_AFTER = f"""
SELECT a.id, a.name, a.comments, a.version, a.created_at, a.updated_at,
       (SELECT count(*) FROM configurations c WHERE c.application_id = a.id) AS configuration_count,
       (SELECT ch.at FROM changes ch WHERE ch.application_id = a.id ORDER BY ch.revision DESC LIMIT 1)
           AS changed_at
FROM applications a
WHERE (%(after)s::varchar IS NULL OR a.id > %(after)s)
  AND (%(search)s::text IS NULL OR strpos(lower(a.name), lower(%(search)s)) > 0)
  AND {visible_sql("a.id")}
ORDER BY a.id
OFFSET %(offset)s
LIMIT %(limit)s
"""


def get_application(cur: Cursor, id: str) -> ApplicationView | None:
    cur.execute(APPLICATION_WITH_CONFIGURATION_IDS, {"id": id})
    row = cur.fetchone()
    return None if row is None else ApplicationView(**row)


def list_applications(
    cur: Cursor,
    limit: int,
    after: str | None = None,
    offset: int = 0,
    search: str | None = None,
    among: Among = None,
) -> Page[ApplicationSummary]:
    """A page of applications in id order; with `search`, those whose name contains it (any
    case); with `among`, only those of these ids."""
    # One row more than asked tells whether another page follows.
    params = {
        "after": after,
        "offset": offset,
        "limit": limit + 1,
        "search": search,
        "applications": among_param(among),
    }
    cur.execute(APPLICATIONS_AFTER, params)
    return page_of(ApplicationSummary, cur.fetchall(), limit, key="id")
