"""What the read model needs when it (re)starts listening, read right after LISTEN, so that
every change after it will be announced:

- cold (nothing loaded yet), or after a gap too long to replay: a `Snapshot` of everything,
  read in one REPEATABLE READ transaction at one revision: every configuration's name and, as
  far as `max_bytes` allows, its view rendered as it is sent; every application's own fields;
- after a short gap: the `Gap`, the feed entries of the changes missed, to replay.

Set-based SQL: two streamed statements, whatever the number of views.

Where they are read: LISTEN stays on the primary (a standby sends no announcements), and the
views may be read on a read replica (infra/replicas.py). Right after LISTEN, the listener's
connection reads the primary's latest revision P: every change after P commits after LISTEN,
so it will be announced. The views are then read on a replica that shows P (waiting up to
REPLICA_WAIT_MS for one to replay it), else on the primary. A standby replays commits in the
primary's commit order, which is revision order, so what it shows at revision R >= P is every
change up to R and none after: a snapshot there is consistent at R, and a gap read there holds
every change up to P at least. The changes after P are announced; those up to R are already
in what was read, and applying skips them by revision. Nothing is missed, nothing applied twice.
The active tokens and staged releases are read on the primary (few, and not revisions).
"""

import logging
import time
from dataclasses import dataclass, field

import psycopg2
from psycopg2.extensions import connection as Connection

from infra import metrics
from infra.database import first_line
from infra.keyring import Keyring
from infra.replicas import PRIMARY, REPLICA, Replicas
from queries.applications import APPLICATION_RECORDS
from queries.changes import CHANGES_AFTER, LATEST_REVISION, latest_revision
from queries.configurations import CONFIGURATION_COLUMNS
from queries.rollouts import Release, staged_releases
from queries.tokens import active_tokens
from queries.views import ChangeView, ConfigurationView

log = logging.getLogger(__name__)

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
    replica: str | None = None  # the replica it was read on; None: the primary


@dataclass
class Gap:
    since: int  # the latest revision followed before the gap
    revision: int  # the latest change replayed (or `since`, if none was missed)
    changes: list[ChangeView]  # every change after `since`, up to `revision`
    tokens: dict = field(default_factory=dict)  # the active tokens, by their secret's hash
    staged: dict[str, Release] = field(default_factory=dict)  # staged configurations' releases
    replica: str | None = None  # the replica they were read on; None: the primary


def catch_up(
    conn: Connection,
    since: int | None,
    max_bytes: int,
    replicas: Replicas | None = None,
    keyring: Keyring | None = None,
) -> Snapshot | Gap:
    """Run on the listener's connection (autocommit, the primary's) right after LISTEN; the
    views on a replica that shows every change committed before, when there is one."""
    caught_up = _on_replica(conn, since, max_bytes, replicas, keyring) if replicas else None
    if caught_up is None:
        caught_up = _views_since(conn, since, max_bytes, keyring)
    kind = "snapshot" if isinstance(caught_up, Snapshot) else "gap"  # queries/sources.py's kinds
    metrics.read_served(kind, REPLICA if caught_up.replica else PRIMARY)
    with conn.cursor() as cur:
        # A handful each: read whole every time.
        caught_up.tokens = active_tokens(cur)
        caught_up.staged = staged_releases(cur)
    return caught_up


def _on_replica(
    conn: Connection, since: int | None, max_bytes: int, replicas: Replicas, keyring: Keyring | None
) -> Snapshot | Gap | None:
    """The views read on a replica that shows the primary's latest revision; None when none
    does within REPLICA_WAIT_MS, or the read there fails."""
    with conn.cursor() as cur:
        primary_at = latest_revision(cur)  # after LISTEN: every change after it is announced
    found = replicas.connect_showing(primary_at)
    if found is None:
        return None
    replica, replica_conn = found
    try:
        caught_up = _views_since(replica_conn, since, max_bytes, keyring)
    except psycopg2.Error as exc:  # cancelled by replay, lost, or behind the primary's schema
        log.info("reading on replica %s failed (%s); reading on the primary", replica.name, first_line(exc))
        return None
    finally:
        replica_conn.close()
    caught_up.replica = replica.name
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
