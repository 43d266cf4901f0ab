"""The fleet: which client holds which version of a configuration, through which instance.

Every read or watch of /config that carries `X-Client-Id` is noted here in memory (the
version served, or held when the answer is 304): one dictionary assignment per request,
never a round trip. The instance writes what it noted in batches (commands/reports.py,
RecordSightings; api/app.py runs it at least every 5 seconds), and the fleet view reads them
back with each client's latest report.
"""

import time

from psycopg2.extensions import cursor as Cursor
from pydantic import BaseModel, Field

from infra.access import Among, among_param, visible_sql
from infra.ids import new_id
from infra.timestamps import Timestamp

# Distinct per process: where a client was last seen.
INSTANCE_ID = new_id()


class Sightings:
    """Clients seen since the last flush, by (configuration id, client id); on the loop thread."""

    def __init__(self, instance: str = INSTANCE_ID) -> None:
        self.instance = instance
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}

    def note(self, configuration_id: str, client_id: str, version: int) -> None:
        self._seen[configuration_id, client_id] = (version, time.time())

    def drain(self) -> tuple[tuple[str, str, int, float, str], ...]:
        """What was seen since the last call: (configuration, client, version, at, instance) each."""
        seen, self._seen = self._seen, {}
        return tuple((cfg, client, version, at, self.instance) for (cfg, client), (version, at) in seen.items())

    def __len__(self) -> int:
        return len(self._seen)


class Report(BaseModel):
    version: int
    ok: bool
    message: str | None
    at: Timestamp


class FleetClient(BaseModel):
    client_id: str
    version: int = Field(description="The version it was last served, or held (If-None-Match)")
    last_seen: Timestamp
    via_instance: str = Field(description="The service instance that saw it last")
    last_report: Report | None


class Fleet(BaseModel):
    clients: list[FleetClient]
    versions: dict[str, int] = Field(description="How many clients (seen within CLIENT_TTL) hold each version")


class ConfigurationFleet(Fleet):
    configuration_id: str
    name: str


_SEEN = """
    s.configuration_id = %(configuration_id)s AND s.last_seen >= clock_timestamp() - make_interval(secs => %(ttl)s)
"""
CLIENTS = f"""
SELECT s.client_id, s.version, s.last_seen, s.via_instance,
       CASE WHEN r.client_id IS NOT NULL THEN
           jsonb_build_object('version', r.version, 'ok', r.ok, 'message', r.message, 'at', r.at) END AS last_report
FROM client_sightings s
LEFT JOIN client_reports r ON r.configuration_id = s.configuration_id AND r.client_id = s.client_id
WHERE {_SEEN} AND (%(after)s::text IS NULL OR s.client_id > %(after)s)
ORDER BY s.client_id
LIMIT %(limit)s
"""
VERSIONS = f"SELECT s.version, count(*) AS clients FROM client_sightings s WHERE {_SEEN} GROUP BY s.version"
CONFIGURATION = f"""
SELECT c.id, c.name FROM configurations c
WHERE c.id = %(configuration_id)s AND {visible_sql("c.application_id")}
"""
# Every configuration of an application with its first `limit` clients and its counts per
# version: two statements, whatever the number of configurations.
APPLICATION_CLIENTS = """
SELECT c.id AS configuration_id, c.name, s.client_id, s.version, s.last_seen, s.via_instance,
       CASE WHEN r.client_id IS NOT NULL THEN
           jsonb_build_object('version', r.version, 'ok', r.ok, 'message', r.message, 'at', r.at) END AS last_report
FROM configurations c
LEFT JOIN LATERAL (
    SELECT * FROM client_sightings s
    WHERE s.configuration_id = c.id AND s.last_seen >= clock_timestamp() - make_interval(secs => %(ttl)s)
    ORDER BY s.client_id LIMIT %(limit)s
) s ON true
LEFT JOIN client_reports r ON r.configuration_id = c.id AND r.client_id = s.client_id
WHERE c.application_id = %(application_id)s
ORDER BY c.id, s.client_id
"""
APPLICATION_VERSIONS = """
SELECT s.configuration_id, s.version, count(*) AS clients
FROM client_sightings s JOIN configurations c ON c.id = s.configuration_id
WHERE c.application_id = %(application_id)s AND s.last_seen >= clock_timestamp() - make_interval(secs => %(ttl)s)
GROUP BY s.configuration_id, s.version
"""
APPLICATION = f"SELECT 1 FROM applications a WHERE a.id = %(application_id)s AND {visible_sql('a.id')}"


def configuration_fleet(
    cur: Cursor, configuration_id: str, ttl: float, limit: int, after: str | None = None, among: Among = None
) -> tuple[Fleet, str | None] | None:
    """The clients of a configuration seen within `ttl` seconds, a page at a time, and the
    client id the next page starts after; None if there is no such configuration."""
    params = {"configuration_id": configuration_id, "applications": among_param(among)}
    cur.execute(CONFIGURATION, params)
    if cur.fetchone() is None:
        return None
    return _fleet(cur, configuration_id, ttl, limit, after)


def application_fleet(
    cur: Cursor, application_id: str, ttl: float, limit: int, among: Among = None
) -> list[ConfigurationFleet] | None:
    """The same for each configuration of an application (first `limit` clients of each)."""
    params = {"application_id": application_id, "applications": among_param(among), "ttl": ttl, "limit": limit}
    cur.execute(APPLICATION, params)
    if cur.fetchone() is None:
        return None
    cur.execute(APPLICATION_CLIENTS, params)
    fleets: dict[str, ConfigurationFleet] = {}
    for row in cur.fetchall():
        fleet = fleets.get(row["configuration_id"])
        if fleet is None:
            fleet = fleets[row["configuration_id"]] = ConfigurationFleet(
                configuration_id=row["configuration_id"], name=row["name"], clients=[], versions={}
            )
        if row["client_id"] is not None:
            fleet.clients.append(FleetClient(**{k: row[k] for k in FleetClient.model_fields}))
    cur.execute(APPLICATION_VERSIONS, params)
    for row in cur.fetchall():
        fleets[row["configuration_id"]].versions[str(row["version"])] = row["clients"]
    return list(fleets.values())


def _fleet(cur: Cursor, configuration_id: str, ttl: float, limit: int, after: str | None) -> tuple[Fleet, str | None]:
    params = {"configuration_id": configuration_id, "ttl": ttl, "after": after, "limit": limit + 1}
    cur.execute(CLIENTS, params)
    rows = cur.fetchall()
    cur.execute(VERSIONS, params)
    versions = {str(row["version"]): row["clients"] for row in cur.fetchall()}
    clients = [FleetClient(**row) for row in rows[:limit]]
    next_after = clients[-1].client_id if len(rows) > limit else None
    return Fleet(clients=clients, versions=versions), next_after
