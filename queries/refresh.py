"""The views a batch of announced changes touched, read again in one statement for the batch:
configurations' views, applications' own fields and rollouts' rows (queries/read_model.py)."""

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

from queries.applications import APPLICATION_RECORD_COLUMNS
from queries.configurations import CONFIGURATION_COLUMNS
from queries.views import ConfigurationView

REFRESH = f"""
SELECT 'configuration' AS kind, to_json(c) AS row
FROM (SELECT {CONFIGURATION_COLUMNS} FROM configurations WHERE id = ANY(%(configurations)s)) c
UNION ALL
SELECT 'application', to_json(a)
FROM (SELECT {APPLICATION_RECORD_COLUMNS} FROM applications WHERE id = ANY(%(applications)s)) a
UNION ALL
SELECT 'rollout', to_json(r) FROM rollouts r WHERE id = ANY(%(rollouts)s)
"""


@dataclass
class Refreshed:
    configurations: dict[str, ConfigurationView]  # by id; a deleted one is missing
    applications: dict[str, dict]  # each application's own fields, by id
    rollouts: list[dict]  # rollouts' rows


def refresh(
    cur: Cursor, configuration_ids: list[str], application_ids: list[str], rollout_ids: list[str] = ()
) -> Refreshed:
    cur.execute(
        REFRESH,
        {"configurations": configuration_ids, "applications": application_ids, "rollouts": list(rollout_ids)},
    )
    found = Refreshed({}, {}, [])
    for row in cur.fetchall():
        if row["kind"] == "configuration":
            view = ConfigurationView(**row["row"])
            found.configurations[view.id] = view
        elif row["kind"] == "application":
            found.applications[row["row"]["id"]] = row["row"]
        else:
            found.rollouts.append(row["row"])
    return found
