"""What clients tell the service: how applying a version went (`ReportOutcome`), and which
version each client was seen holding (`RecordSightings`, written in batches by every
instance). Neither is a change of a configuration, so neither is a revision, except when
failures roll a rollout back: that is the rollout's event, recorded by its trigger.

A client's failure counts once per rollout, and only for the version the rollout moves to;
when more than `max_failures` clients have failed, the same statement rolls the rollout back.
"""

from dataclasses import dataclass

from commands.bus import handles
from commands.errors import NotFound
from commands.rollouts import committed
from infra.access import visible_sql
from infra.events import Committed
from infra.writes import Statement


@dataclass(frozen=True)
class ReportOutcome:
    configuration_id: str
    client_id: str
    version: int
    ok: bool
    message: str | None = None


@dataclass(frozen=True)
class RecordSightings:
    """(configuration id, client id, version, seen at (epoch seconds), instance id) each."""

    sightings: tuple[tuple[str, str, int, float, str], ...]


REPORT = f"""
WITH target AS (
    SELECT c.id FROM configurations c
    WHERE c.id = %(configuration_id)s AND {visible_sql("c.application_id")}
), report AS (
    INSERT INTO client_reports (configuration_id, client_id, version, ok, message, at)
    SELECT t.id, %(client_id)s, %(version)s, %(ok)s, %(message)s, clock_timestamp() FROM target t
    ON CONFLICT (configuration_id, client_id) DO UPDATE
    SET version = excluded.version, ok = excluded.ok, message = excluded.message, at = excluded.at
    RETURNING 1
), failed AS (
    INSERT INTO rollout_failures (rollout_id, client_id, message, at)
    SELECT r.id, %(client_id)s, %(message)s, clock_timestamp()
    FROM rollouts r JOIN target t ON r.configuration_id = t.id
    WHERE NOT %(ok)s AND r.state = 'running' AND r.to_version = %(version)s
    ON CONFLICT DO NOTHING  -- once per client and rollout
    RETURNING rollout_id
), counted AS (
    UPDATE rollouts r
    SET failures = r.failures + 1,
        state = CASE WHEN r.failures + 1 > r.max_failures THEN 'rolled_back' ELSE r.state END,
        next_step_at = CASE WHEN r.failures + 1 > r.max_failures THEN NULL ELSE r.next_step_at END,
        ended_at = CASE WHEN r.failures + 1 > r.max_failures THEN clock_timestamp() END,
        reason = CASE WHEN r.failures + 1 > r.max_failures
                      THEN format('%%s clients failed to apply version %%s (more than max_failures %%s), e.g. %%s',
                                  r.failures + 1, r.to_version, r.max_failures,
                                  coalesce(left(%(message)s, 200), 'no message'))
                      ELSE r.reason END
    FROM failed f
    WHERE r.id = f.rollout_id AND r.state = 'running'
    RETURNING r.*
)
SELECT jsonb_build_object(
    'found', EXISTS (SELECT 1 FROM target),
    'rollout', (SELECT to_jsonb(c) FROM counted c)
)
"""

RECORD_SIGHTINGS = """
WITH written AS (
INSERT INTO client_sightings AS s (configuration_id, client_id, version, last_seen, via_instance)
SELECT DISTINCT ON (configuration_id, client_id) configuration_id, client_id, version, to_timestamp(seen), instance
FROM unnest(%(configurations)s::text[], %(clients)s::text[], %(versions)s::int[], %(seen)s::float8[],
            %(instances)s::text[]) AS n(configuration_id, client_id, version, seen, instance)
WHERE EXISTS (SELECT 1 FROM configurations c WHERE c.id = n.configuration_id)
ORDER BY configuration_id, client_id, seen DESC
ON CONFLICT (configuration_id, client_id) DO UPDATE
SET version = excluded.version, last_seen = excluded.last_seen, via_instance = excluded.via_instance
WHERE s.last_seen <= excluded.last_seen
RETURNING 1
)
SELECT to_jsonb(count(*)) FROM written
"""


@handles(ReportOutcome)
def report_outcome(cmd: ReportOutcome) -> Statement:
    params = {
        "configuration_id": cmd.configuration_id,
        "client_id": cmd.client_id,
        "version": cmd.version,
        "ok": cmd.ok,
        "message": cmd.message,
    }

    def outcome(value: dict) -> Committed:
        if not value["found"]:
            raise NotFound(f"configuration {cmd.configuration_id} does not exist")
        if value["rollout"] is not None:  # these failures rolled it back
            return committed(value["rollout"])
        return Committed(None, "report", "reported", cmd.configuration_id)

    return Statement(REPORT, params, outcome)


@handles(RecordSightings)
def record_sightings(cmd: RecordSightings) -> Statement:
    columns = list(zip(*cmd.sightings, strict=True)) if cmd.sightings else [[], [], [], [], []]
    params = dict(zip(("configurations", "clients", "versions", "seen", "instances"), map(list, columns), strict=True))

    def outcome(value: object) -> Committed:
        return Committed(None, "sightings", "recorded", "")

    return Statement(RECORD_SIGHTINGS, params, outcome)
