"""Rollouts as readers see them: who gets which version of a staged configuration, their views,
and when the next step of each is due.

`Releases` holds, for every staged configuration, its live version and its active rollout (if
any), kept current by the same events as the read model; immediate configurations are not in
it, so for them the client path pays one failed dictionary lookup. A client's place in a
rollout is its stable bucket: a hash of the configuration's id and the client's id, 0 to
99.99; it gets the new version while its bucket is below the rollout's share, so a client in
the first 10% stays in as the share grows. A client without an id keeps the live version until
the rollout completes.
"""

import functools
import hashlib
from typing import Literal, NamedTuple

from psycopg2.extensions import cursor as Cursor
from pydantic import Field

from infra.access import Among, among_param, visible_sql
from infra.timestamps import Timestamp
from queries.views import Page, _View, page_of

State = Literal["running", "paused", "completed", "rolled_back"]


class RolloutView(_View):
    id: str
    configuration_id: str
    from_version: int = Field(description="The version live when the rollout started")
    to_version: int
    steps: list[int]
    step_seconds: int
    max_failures: int
    percent: int = Field(description="The share of clients (with an id) that get to_version")
    state: State
    failures: int = Field(description="Clients that reported they could not apply to_version")
    started_at: Timestamp
    next_step_at: Timestamp | None
    ended_at: Timestamp | None
    reason: str | None


ROLLOUT_COLUMNS = (
    "id, configuration_id, from_version, to_version, steps, step_seconds, max_failures, percent, state, "
    "failures, started_at, next_step_at, ended_at, reason"
)
ROLLOUT = f"""
SELECT {ROLLOUT_COLUMNS} FROM rollouts r
WHERE r.id = %(id)s AND r.configuration_id = %(configuration_id)s AND {visible_sql("r.application_id")}
"""
# Newest first, a page at a time (ids are ULIDs: their order is their start's).
ROLLOUTS = f"""
SELECT {ROLLOUT_COLUMNS} FROM rollouts r
WHERE r.configuration_id = %(configuration_id)s AND {visible_sql("r.application_id")}
  AND (%(after)s::varchar IS NULL OR r.id < %(after)s)
ORDER BY r.id DESC
LIMIT %(limit)s
"""
CONFIGURATION_SEEN = (
    f"SELECT 1 FROM configurations c WHERE c.id = %(configuration_id)s AND {visible_sql('c.application_id')}"
)
# What the read side holds of each staged configuration, read at start and after a gap.
STAGED = """
SELECT c.id, c.live_version, r.id AS rollout_id, r.from_version, r.to_version, r.percent, r.state, r.next_step_at
FROM configurations c
LEFT JOIN rollouts r ON r.configuration_id = c.id AND r.state IN ('running', 'paused')
WHERE c.release = 'staged'
"""


def get_rollout(cur: Cursor, configuration_id: str, id: str, among: Among = None) -> RolloutView | None:
    cur.execute(ROLLOUT, {"id": id, "configuration_id": configuration_id, "applications": among_param(among)})
    row = cur.fetchone()
    return None if row is None else RolloutView(**row)


def list_rollouts(
    cur: Cursor, configuration_id: str, limit: int, after: str | None = None, among: Among = None
) -> Page[RolloutView] | None:
    """A configuration's rollouts, newest first; None if there is no such configuration."""
    params = {
        "configuration_id": configuration_id,
        "after": after,
        "limit": limit + 1,
        "applications": among_param(among),
    }
    cur.execute(ROLLOUTS, params)
    rows = cur.fetchall()
    if not rows:
        cur.execute(CONFIGURATION_SEEN, params)
        if cur.fetchone() is None:
            return None
    return page_of(RolloutView, rows, limit, key="id")


# -- who gets which version -------------------------------------------------------------


class Active(NamedTuple):
    """A rollout under way, as the client path needs it."""

    id: str
    from_version: int
    to_version: int
    percent: int
    state: str
    next_step_at: float | None  # epoch seconds, while running


class Release(NamedTuple):
    live_version: int
    rollout: Active | None = None


@functools.lru_cache(maxsize=65_536)  # asked on every read of a rolling configuration by a client
def bucket(configuration_id: str, client_id: str) -> float:
    """A client's stable place among a configuration's clients, 0 to 99.99."""
    digest = hashlib.blake2b(f"{configuration_id}/{client_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


def staged_releases(cur: Cursor) -> dict[str, Release]:
    cur.execute(STAGED)
    return {row["id"]: release_of(row) for row in cur.fetchall()}


def release_of(row: dict) -> Release:
    """From a row with the configuration's live version and its active rollout's columns."""
    if row.get("rollout_id") is None or row.get("state") not in ("running", "paused"):
        return Release(row["live_version"])
    due = row["next_step_at"]
    active = Active(
        row["rollout_id"],
        row["from_version"],
        row["to_version"],
        row["percent"],
        row["state"],
        None if due is None else _epoch(due),
    )
    return Release(row["live_version"], active)


def _epoch(value) -> float:
    if isinstance(value, str):
        from datetime import datetime

        value = datetime.fromisoformat(value)
    return value.timestamp()


class Releases:
    """Every staged configuration's live version and active rollout, on the event loop thread."""

    def __init__(self) -> None:
        self._staged: dict[str, Release] = {}

    def replace(self, staged: dict[str, Release]) -> None:
        self._staged = staged

    def get(self, configuration_id: str) -> Release | None:
        """None: the configuration is released immediately (its latest version is live)."""
        return self._staged.get(configuration_id)

    def configuration_changed(self, id: str, release: str | None, live_version: int | None) -> None:
        """What a configuration's own row says (None, None: it is gone)."""
        if release != "staged":
            self._staged.pop(id, None)
            return
        current = self._staged.get(id)
        self._staged[id] = Release(live_version, current.rollout if current is not None else None)

    def rollout_changed(self, row: dict) -> None:
        """A rollout's row after an event: under way, it decides; ended, the live version does."""
        configuration_id = row["configuration_id"]
        current = self._staged.get(configuration_id)
        if current is None:
            return  # not staged (any more): nothing here to decide
        if row["state"] in ("running", "paused"):
            rollout_row = {**row, "rollout_id": row["id"], "live_version": current.live_version}
            self._staged[configuration_id] = release_of(rollout_row)
        else:
            live = row["to_version"] if row["state"] == "completed" else current.live_version
            self._staged[configuration_id] = Release(live)

    def version_for(self, configuration_id: str, client_id: str | None) -> int | None:
        """The version this client gets; None when the configuration is released immediately."""
        release = self._staged.get(configuration_id)
        if release is None:
            return None
        rollout = release.rollout
        if rollout is None:
            return release.live_version
        if client_id is not None and bucket(configuration_id, client_id) < rollout.percent:
            return rollout.to_version
        return rollout.from_version

    def due(self) -> list[tuple[str, int, float]]:
        """(rollout id, share, due at) of every running rollout."""
        return [
            (r.rollout.id, r.rollout.percent, r.rollout.next_step_at)
            for r in self._staged.values()
            if r.rollout is not None and r.rollout.state == "running" and r.rollout.next_step_at is not None
        ]
