"""What the read model needs when it (re)starts listening, read on the listener's own
connection right after LISTEN, so that every change after it will be announced:

- cold (nothing loaded yet), or after a gap too long to replay: a `Snapshot` of everything,
  read in one REPEATABLE READ transaction at one revision: every configuration's name and, as
  far as `max_bytes` allows, its view rendered as it is sent; every application's own fields;
- after a short gap: the `Gap`, the feed entries of the changes missed, to replay.

Set-based SQL: two streamed statements, whatever the number of views.
"""

import time
from dataclasses import dataclass, field

from psycopg2.extensions import connection as Connection

from infra.keyring import Keyring
from queries.applications import APPLICATION_RECORDS
from queries.changes import CHANGES_AFTER, LATEST_REVISION
from queries.configurations import CONFIGURATION_COLUMNS
from queries.rollouts import Release, staged_releases
from queries.tokens import active_tokens
from queries.views import ChangeView, ConfigurationView

# A gap longer than this is not replayed change by change: everything is read again.
MAX_REPLAY = 10_000
# Rough per-entry bookkeeping cost (key, dict slot, objects), counted against the bound.
ENTRY_OVERHEAD = 200

ALL_CONFIGURATIONS = f"SELECT {CONFIGURATION_COLUMNS} FROM configurations"


@dataclass
class Snapshot:
    revision: int
    # (id, application id, name, revision, version, body, shown, secret pointers): body (masked)
    # None when it did not fit the bound; shown: the body with its secret values shown, for a
    # configuration that has some
    configurations: list[tuple[str, str, str, int, int, bytes | None, bytes | None, tuple[str, ...]]] = field(
        default_factory=list
    )
    applications: list[dict] = field(default_factory=list)  # each application's own fields
    complete: bool = True  # every view fitted within the bound
    seconds: float = 0.0  # how long reading it took
    tokens: dict = field(default_factory=dict)  # the active tokens, by their secret's hash
    staged: dict[str, Release] = field(default_factory=dict)  # staged configurations' releases


@dataclass
class Gap:
    since: int  # the latest revision followed before the gap
    revision: int  # the latest change replayed (or `since`, if none was missed)
    changes: list[ChangeView]  # every change after `since`, up to `revision`
    tokens: dict = field(default_factory=dict)  # the active tokens, by their secret's hash
    staged: dict[str, Release] = field(default_factory=dict)  # staged configurations' releases


def catch_up(conn: Connection, since: int | None, max_bytes: int, keyring: Keyring | None = None) -> Snapshot | Gap:
    """Run on the listener's connection (autocommit) right after LISTEN."""
    caught_up = _views_since(conn, since, max_bytes, keyring)
    with conn.cursor() as cur:
        # A handful each: read whole every time.
        caught_up.tokens = active_tokens(cur)
        caught_up.staged = staged_releases(cur)
    return caught_up


def _views_since(conn: Connection, since: int | None, max_bytes: int, keyring: Keyring | None) -> Snapshot | Gap:
    if since is not None:
        with conn.cursor() as cur:
            cur.execute(CHANGES_AFTER, {"after": since, "limit": MAX_REPLAY + 1, "applications": None})
            rows = cur.fetchall()
            if len(rows) <= MAX_REPLAY:
                # Revisions become visible in order, so these are every change up to the last
                # of them; one committed after this read is announced. (Not max(revision) read
                # separately: a change committed between the two reads would be skipped.)
                changes = [ChangeView(**row) for row in rows]
                return Gap(since, max([since, *(change.revision for change in changes)]), changes)
    return load_snapshot(conn, max_bytes, keyring)


def load_snapshot(conn: Connection, max_bytes: int, keyring: Keyring | None = None) -> Snapshot:
    started = time.monotonic()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(LATEST_REVISION)
            snapshot = Snapshot(cur.fetchone()["revision"])
        budget = max_bytes
        # Configurations first: they are what client services read.
        for row in _stream(conn, ALL_CONFIGURATIONS):
            body = shown = None
            secrets = tuple(row["secrets"])
            if budget > ENTRY_OVERHEAD:
                view = ConfigurationView.model_construct(**row)
                body = view.masked().render()
                if secrets:
                    shown = view.revealed(keyring, view.id).render()
                size = len(body) + ENTRY_OVERHEAD + (0 if shown is None else len(shown) + ENTRY_OVERHEAD)
                if size > budget:
                    body = shown = None
                else:
                    budget -= size
            snapshot.complete &= body is not None
            snapshot.configurations.append(
                (row["id"], row["application_id"], row["name"], row["revision"], row["version"], body, shown, secrets)
            )
        snapshot.applications = list(_stream(conn, APPLICATION_RECORDS))
        conn.commit()
        snapshot.seconds = time.monotonic() - started
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit = True
    return snapshot


def _stream(conn: Connection, sql: str, batch: int = 5000):
    """Rows of `sql` through a server-side cursor, `batch` at a time: memory stays flat."""
    with conn.cursor(name="snapshot") as cur:
        cur.itersize = batch
        cur.execute(sql)
        yield from cur
