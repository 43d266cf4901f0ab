"""How commands reach the database: each as one SQL statement, carried out in batches of one
round trip.

A command handler (commands/) returns a `Statement`: one SQL statement that makes the whole
change and returns its outcome as one jsonb value, with what that outcome means (`outcome`:
the committed event, or the domain error when nothing could change) and which SQL errors
are the command's own (`on_error`, e.g. a name taken). The caller's application limit is
bound to every statement as `%(applications)s`, so a limited token's change touches only
its applications. The database records each change itself (revision, version, feed entry,
announcement: migrations/0003).

Commands that arrive while the write worker is busy wait together, and the worker sends all
of them as one call of `run_commands` (migrations/0003): one round trip, ONE transaction, one
commit, with each command in a subtransaction of its own, so a command at fault fails alone
while the others commit together. One round trip matters beyond the database: each time the
worker thread waits for the network it must win the GIL back from the event loop thread,
which under read load takes up to a switch interval per round trip.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg2.extensions import cursor as Cursor

from infra.access import Among, among_param
from infra.events import Committed


@dataclass(frozen=True)
class Caller:
    """Who makes a change: the token's name (None with access control off), the request it
    came in, and the applications the token is limited to (None: every one)."""

    actor: str | None = None
    request_id: str | None = None
    applications: Among = None


ANYONE = Caller()


@dataclass(frozen=True)
class SqlError:
    """An error a command's statement raised, as the database reported it."""

    code: str  # SQLSTATE, e.g. 23505 for a unique violation
    constraint: str | None
    message: str


def _unexpected(error: SqlError) -> Exception | None:
    return None


@dataclass(frozen=True)
class Statement:
    """A command as one statement (`%(name)s` parameters) that returns at most one value."""

    sql: str
    params: Mapping[str, Any]
    # The statement's value (None when it returned no row) -> the committed event; raises the
    # domain error when the command could not apply (and so changed nothing).
    outcome: Callable[[Any], Committed]
    # A SQL error -> the domain error it means, or None when the command did not expect it.
    on_error: Callable[[SqlError], Exception | None] = _unexpected
    # How the change is recorded when it is not simply created/updated/deleted ('restored').
    action: str | None = None


Work = tuple[Statement, Caller]
Outcome = tuple[Committed | None, Exception | None]


class CommandFailed(Exception):
    """A command's statement failed in a way its handler did not expect (a bug, or schema drift)."""


class RetryAlone(Exception):
    """A command lost a deadlock or a serialisation race with another transaction."""


# Deadlock, serialisation failure: the command's fault only in timing; it may run again.
_RETRYABLE = {"40P01", "40001"}

RUN_COMMANDS = """
SELECT ordinal, outcome, error_code, error_constraint, error_message
FROM run_commands(%(statements)s, %(actors)s, %(request_ids)s, %(actions)s)
ORDER BY ordinal
"""


def execute_batch(cur: Cursor, work: list[Work]) -> list[Outcome]:
    """Carry out the statements in one transaction, one round trip; each one's (event, error)."""
    cur.execute(
        RUN_COMMANDS,
        {
            "statements": [
                cur.mogrify(s.sql, {**s.params, "applications": among_param(caller.applications)}).decode()
                for s, caller in work
            ],
            "actors": [caller.actor for _, caller in work],
            "request_ids": [caller.request_id for _, caller in work],
            "actions": [s.action for s, _ in work],
        },
    )
    rows = cur.fetchall()
    outcomes: list[Outcome] = []
    for (statement, _), row in zip(work, rows, strict=True):
        if row["error_code"] is None:
            try:
                outcomes.append((statement.outcome(row["outcome"]), None))
            except Exception as exc:
                outcomes.append((None, exc))
            continue
        error = SqlError(row["error_code"], row["error_constraint"], row["error_message"])
        if error.code in _RETRYABLE:
            outcomes.append((None, RetryAlone(error.message)))
        else:
            outcomes.append((None, statement.on_error(error) or CommandFailed(f"{error.code}: {error.message}")))
    return outcomes
