"""Forward-only SQL migrations: `migrations/NNNN_description.sql`, applied in order, each once.

- The `migrations` table records the version, name, checksum and time of every applied file.
- A PostgreSQL advisory lock serialises runners, so instances that start together apply each
  file exactly once.
- Each file runs in its own transaction together with its bookkeeping row: a failing file
  leaves neither.
- An applied file that changed (checksum) or disappeared stops the runner before it applies
  anything.

Command line: `pipenv run migrate` applies what is pending; `pipenv run migrate status` lists.
"""

import hashlib
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

log = logging.getLogger("migrations")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works, as long as every runner of this schema uses the same one.
ADVISORY_LOCK_KEY = 7_201_164_811

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    char(64)    NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer     NOT NULL
)
"""
SELECT_APPLIED = "SELECT version, name, checksum, applied_at FROM migrations ORDER BY version"
INSERT_APPLIED = """
INSERT INTO migrations (version, name, checksum, duration_ms)
VALUES (%(version)s, %(name)s, %(checksum)s, %(duration_ms)s)
"""


class MigrationError(Exception):
    """The migrations cannot be applied as they are; the message says which file and why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class Status:
    version: int
    name: str
    state: str  # applied, pending, changed or missing
    applied_at: object = None


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration; return those this call applied."""
    files = discover(directory)
    with _locked_connection(dsn) as conn:
        applied = _applied(conn)
        problems = [s for s in _compare(files, applied) if s.state in ("changed", "missing")]
        if problems:
            raise MigrationError(
                "refusing to migrate: "
                + "; ".join(f"{s.version:04d}_{s.name}.sql was applied but is {s.state}" for s in problems)
            )
        pending = [m for m in files if m.version not in applied]
        for migration in pending:
            _apply(conn, migration)
        return pending


def status(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[Status]:
    files = discover(directory)
    with _locked_connection(dsn) as conn:
        return _compare(files, _applied(conn))


class _locked_connection:
    """A connection holding the migrations advisory lock, with the bookkeeping table present."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def __enter__(self):
        self.conn = psycopg2.connect(self.dsn, connect_timeout=10, application_name="migrations")
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            # Session lock: released at unlock, or by the server if this process dies.
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            cur.execute(CREATE_TABLE)
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        try:
            if not self.conn.closed:
                with self.conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        finally:
            self.conn.close()


def _applied(conn) -> dict[int, tuple]:
    with conn.cursor() as cur:
        cur.execute(SELECT_APPLIED)
        return {row[0]: row for row in cur.fetchall()}


def _compare(files: list[Migration], applied: dict[int, tuple]) -> list[Status]:
    by_version = {m.version: m for m in files}
    statuses = []
    for version in sorted(set(by_version) | set(applied)):
        migration, row = by_version.get(version), applied.get(version)
        if row is None:
            statuses.append(Status(version, migration.name, "pending"))
        elif migration is None:
            statuses.append(Status(version, row[1], "missing", row[3]))
        elif migration.checksum != row[2]:
            statuses.append(Status(version, migration.name, "changed", row[3]))
        else:
            statuses.append(Status(version, migration.name, "applied", row[3]))
    return statuses


def _apply(conn, migration: Migration) -> None:
    started = time.monotonic()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(migration.sql)
            cur.execute(
                INSERT_APPLIED,
                {
                    "version": migration.version,
                    "name": migration.name,
                    "checksum": migration.checksum,
                    "duration_ms": round((time.monotonic() - started) * 1000),
                },
            )
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise MigrationError(f"{migration.filename} failed and was rolled back: {exc}".strip()) from exc
    finally:
        conn.autocommit = True
    log.info("applied migration %s", migration.filename)


def main(argv: list[str]) -> int:
    from infra.logs import configure_logging
    from infra.postgres import PostgresError, provide_database
    from infra.settings import SettingsError, load_settings

    action = argv[0] if argv else "up"
    if action not in ("up", "status"):
        print("usage: migrations.py [up|status]", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        with provide_database(settings, join_running=True) as dsn:
            if action == "up":
                applied = migrate(dsn)
                print(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m.filename}" for m in applied))
            else:
                for s in status(dsn):
                    print(f"{s.version:04d}  {s.state:8}  {s.name}  {s.applied_at or ''}")
    except (MigrationError, SettingsError, PostgresError, psycopg2.OperationalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
