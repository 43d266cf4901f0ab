"""Staged rollouts: start one, pause, resume, roll back, promote, and the step that advances it
by itself. Each is one statement (infra/writes.py); the rollout's trigger records every event
in the feed and, at completion, moves the configuration's live version (migrations/0010).

A step is taken by whichever instance's timer fires first: `AdvanceRollout` names the share
it moves from and only applies when that is still the share and the step is due, so of
several instances exactly one steps; the others learn `NotDue`.
"""

from dataclasses import dataclass, field

from commands.bus import handles
from commands.errors import Conflict, InvalidCommand, NotFound
from commands.validation import NO_SCHEMA, Expect, Guard, Recheck, guards
from infra.access import visible_sql
from infra.events import Committed
from infra.ids import new_id
from infra.writes import SqlError, Statement

ACTIVE = ("running", "paused")


@dataclass(frozen=True)
class StartRollout:
    configuration_id: str
    version: int
    steps: tuple[int, ...] = (10, 50, 100)
    step_seconds: int = 60
    max_failures: int = 0
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class PauseRollout:
    configuration_id: str
    id: str


@dataclass(frozen=True)
class ResumeRollout:
    """The next step comes `step_seconds` after the resume."""

    configuration_id: str
    id: str


@dataclass(frozen=True)
class RollBackRollout:
    """Everyone back to the version live before the rollout, at once."""

    configuration_id: str
    id: str


@dataclass(frozen=True)
class PromoteRollout:
    """Straight to 100%: the rollout completes and its version is live."""

    configuration_id: str
    id: str


@dataclass(frozen=True)
class AdvanceRollout:
    """The next step of a running rollout, if it is still at `percent` and the step is due."""

    id: str
    percent: int


class NotDue(Conflict):
    """The step was taken already (by another instance), or is not due, or the rollout stopped."""


def committed(row: dict) -> Committed:
    """A rollout's event as its statement returned the row (the event itself is in the feed)."""
    return Committed(row["revision"], "rollout", row["state"], row["id"], row["application_id"], None, row)


START_ROLLOUT = f"""
WITH target AS (
    SELECT c.id, c.application_id, c.release, c.live_version,
           EXISTS (SELECT 1 FROM configuration_versions v
                   WHERE v.configuration_id = c.id AND v.version = %(version)s) AS version_exists
    FROM configurations c
    WHERE c.id = %(configuration_id)s AND {visible_sql("c.application_id")}
    FOR UPDATE
), r AS (
    INSERT INTO rollouts (id, configuration_id, application_id, from_version, to_version, steps, step_seconds,
                          max_failures, percent, state, started_at, next_step_at, ended_at, revision)
    SELECT %(id)s, t.id, t.application_id, t.live_version, %(version)s, %(steps)s, %(step_seconds)s,
           %(max_failures)s, %(first)s,
           CASE WHEN %(first)s = 100 THEN 'completed' ELSE 'running' END,
           clock_timestamp(),
           CASE WHEN %(first)s < 100 THEN clock_timestamp() + make_interval(secs => %(step_seconds)s) END,
           CASE WHEN %(first)s = 100 THEN clock_timestamp() END,
           0  -- set by the trigger
    FROM target t
    WHERE t.release = 'staged' AND t.version_exists AND t.live_version <> %(version)s
      AND (%(expect_schema)s::bigint IS NULL OR configuration_schema_revision(t.id) = %(expect_schema)s::bigint)
    RETURNING *
)
SELECT jsonb_build_object(
    'row', (SELECT to_jsonb(r) FROM r),
    'target', (SELECT to_jsonb(t) FROM target t),
    'guard', CASE WHEN %(expect_schema)s::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM r) THEN (
        SELECT jsonb_build_object(
            'revision', c.revision,
            'document', v.document::text,
            'schema', (SELECT jsonb_build_object('revision', s.revision, 'schema', s.schema::text, 'draft', s.draft)
                       FROM configuration_schemas s WHERE s.configuration_id = c.id)
        )
        FROM configurations c JOIN configuration_versions v ON v.configuration_id = c.id AND v.version = %(version)s
        WHERE c.id = %(configuration_id)s
    ) END
)
"""

# The rollout, when it belongs to the configuration the request names and the caller may see.
_ROLLOUT = f"""
    r.id = %(id)s AND r.configuration_id = %(configuration_id)s AND {visible_sql("r.application_id")}
"""
CURRENT = f"(SELECT jsonb_build_object('state', r.state) FROM rollouts r WHERE {_ROLLOUT})"


def _change(set_sql: str, from_states: tuple[str, ...]) -> str:
    return (
        f"""
WITH r AS (
    UPDATE rollouts r SET {set_sql}
    WHERE {_ROLLOUT} AND r.state = ANY(%(from_states)s)
    RETURNING r.*
)
SELECT jsonb_build_object('row', (SELECT to_jsonb(r) FROM r), 'current', {CURRENT})
""",
        list(from_states),
    )


PAUSE = _change("state = 'paused', next_step_at = NULL", ("running",))
RESUME = _change(
    "state = 'running', next_step_at = clock_timestamp() + make_interval(secs => r.step_seconds)", ("paused",)
)
ROLL_BACK = _change(
    "state = 'rolled_back', next_step_at = NULL, ended_at = clock_timestamp(), reason = coalesce(%(reason)s, r.reason)",
    ACTIVE,
)
PROMOTE = _change(
    "state = 'completed', percent = 100, next_step_at = NULL, ended_at = clock_timestamp(), "
    "reason = coalesce(%(reason)s, r.reason)",
    ACTIVE,
)

ADVANCE = """
WITH r AS (
    UPDATE rollouts r
    SET percent = step.next,
        state = CASE WHEN step.next >= 100 THEN 'completed' ELSE 'running' END,
        next_step_at = CASE WHEN step.next < 100 THEN clock_timestamp() + make_interval(secs => r.step_seconds) END,
        ended_at = CASE WHEN step.next >= 100 THEN clock_timestamp() END
    FROM (SELECT coalesce(min(s), 100) AS next FROM rollouts x, unnest(x.steps) s
          WHERE x.id = %(id)s AND s > %(percent)s) step
    WHERE r.id = %(id)s AND r.state = 'running' AND r.percent = %(percent)s AND r.next_step_at <= clock_timestamp()
    RETURNING r.*
)
SELECT to_jsonb(r) FROM r
"""


@guards(StartRollout)
def start_guard(cmd: StartRollout) -> Guard:
    """The version a rollout sends must satisfy the configuration's schema as it is now, though
    it may have been written before the schema."""
    return Guard(cmd.configuration_id, "document", location="config")


@handles(StartRollout)
def start_rollout(cmd: StartRollout, expect: Expect = NO_SCHEMA) -> Statement:
    steps = list(cmd.steps)
    if not steps or steps[-1] != 100 or any(not 1 <= s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise InvalidCommand("steps", "percentages from 1 to 100, strictly increasing, ending at 100")
    params = {
        "id": cmd.id,
        "configuration_id": cmd.configuration_id,
        "version": cmd.version,
        "steps": steps,
        "first": steps[0],
        "step_seconds": cmd.step_seconds,
        "max_failures": cmd.max_failures,
        "expect_schema": expect.schema,
    }

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"])
        target = value["target"]
        if target is None:
            raise NotFound(f"configuration {cmd.configuration_id} does not exist")
        if target["release"] != "staged":
            raise Conflict(
                f"configuration {cmd.configuration_id} is released immediately: set its release to 'staged' first"
            )
        if not target["version_exists"]:
            raise InvalidCommand("version", f"configuration {cmd.configuration_id} has no version {cmd.version}")
        if value["guard"] is not None and target["live_version"] != cmd.version:
            raise Recheck(value["guard"])
        raise Conflict(f"version {cmd.version} is already live")

    def on_error(error: SqlError) -> Exception | None:
        if error.code == "23505" and error.constraint == "rollouts_active_key":
            return Conflict(
                f"configuration {cmd.configuration_id} has an active rollout: pause, roll back or promote it first"
            )
        return None

    return Statement(START_ROLLOUT, params, outcome, on_error=on_error)


def _action(sql_and_states: tuple[str, list[str]], cmd, verb: str, action: str | None = None, reason=None):
    sql, from_states = sql_and_states
    params = {"id": cmd.id, "configuration_id": cmd.configuration_id, "from_states": from_states, "reason": reason}

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"])
        if value["current"] is None:
            raise NotFound(f"configuration {cmd.configuration_id} has no rollout {cmd.id}")
        raise Conflict(f"rollout {cmd.id} is {value['current']['state']}: it cannot be {verb}")

    return Statement(sql, params, outcome, action=action)


@handles(PauseRollout)
def pause_rollout(cmd: PauseRollout) -> Statement:
    return _action(PAUSE, cmd, "paused")


@handles(ResumeRollout)
def resume_rollout(cmd: ResumeRollout) -> Statement:
    return _action(RESUME, cmd, "resumed")


@handles(RollBackRollout)
def roll_back_rollout(cmd: RollBackRollout) -> Statement:
    return _action(ROLL_BACK, cmd, "rolled back", reason="rolled back by hand")


@handles(PromoteRollout)
def promote_rollout(cmd: PromoteRollout) -> Statement:
    return _action(PROMOTE, cmd, "promoted", action="promoted", reason="promoted by hand")


@handles(AdvanceRollout)
def advance_rollout(cmd: AdvanceRollout) -> Statement:
    def outcome(row: dict | None) -> Committed:
        if row is None:
            raise NotDue(f"rollout {cmd.id} is not due to step from {cmd.percent}%")
        return committed(row)

    return Statement(ADVANCE, {"id": cmd.id, "percent": cmd.percent}, outcome)
