"""Configuration views: one, and an application's configurations, page by page."""

from psycopg2.extensions import cursor as Cursor

from queries.views import ConfigurationView, Page, ServedVersion, page_of

# The document as its stored text (infra/documents.py), sent as it is.
CONFIGURATION_COLUMNS = (
    "id, application_id, name, comments, document::text AS config, version, created_at, updated_at, "
    "release, live_version, revision, secrets"
)
# A staged configuration's version as its clients are served it.
SERVED_VERSION = """
SELECT v.configuration_id AS id, v.application_id, v.name, v.comments, v.document::text AS config, v.version,
       c.created_at, v.created_at AS updated_at, c.release, c.live_version, v.revision, v.secrets
FROM configuration_versions v JOIN configurations c ON c.id = v.configuration_id
WHERE v.configuration_id = %(id)s AND v.version = %(version)s
"""

CONFIGURATION = f"""
SELECT {CONFIGURATION_COLUMNS}
FROM configurations
WHERE id = %(id)s
"""

# Keyset pages over the (application_id, id) index.
CONFIGURATIONS_OF_APPLICATION = f"""
SELECT {CONFIGURATION_COLUMNS}
FROM configurations
WHERE application_id = %(application_id)s AND (%(after)s::varchar IS NULL OR id > %(after)s)
ORDER BY id
OFFSET %(offset)s
LIMIT %(limit)s
"""

APPLICATION_EXISTS = "SELECT 1 FROM applications WHERE id = %(id)s"


def get_configuration(cur: Cursor, id: str) -> ConfigurationView | None:
    cur.execute(CONFIGURATION, {"id": id})
    row = cur.fetchone()
    return None if row is None else ConfigurationView(**row)


def served_version(cur: Cursor, id: str, version: int) -> ServedVersion | None:
    cur.execute(SERVED_VERSION, {"id": id, "version": version})
    row = cur.fetchone()
    return None if row is None else ServedVersion(**row)


def list_configurations(
    cur: Cursor, application_id: str, limit: int, after: str | None = None, offset: int = 0
) -> Page[ConfigurationView] | None:
    """A page of the application's configurations in id order; None if there is no such application."""
    params = {"application_id": application_id, "after": after, "offset": offset, "limit": limit + 1}
    cur.execute(CONFIGURATIONS_OF_APPLICATION, params)
    rows = cur.fetchall()
    if not rows:
        cur.execute(APPLICATION_EXISTS, {"id": application_id})
        if cur.fetchone() is None:
            return None
    return page_of(ConfigurationView, rows, limit, key="id")
