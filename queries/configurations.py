"""The configuration view."""

from psycopg2.extensions import cursor as Cursor

from queries.views import ConfigurationView

CONFIGURATION = """
SELECT id, application_id, name, comments, config
FROM configurations
WHERE id = %(id)s
"""


def get_configuration(cur: Cursor, id: str) -> ConfigurationView | None:
    cur.execute(CONFIGURATION, {"id": id})
    row = cur.fetchone()
    return None if row is None else ConfigurationView(**row)
