"""Forward-only SQL migrations: `migrations/NNNN_description.sql`, applied in order, each once.

- The `migrations` table records the version, name, checksum and time of every applied file.
- A PostgreSQL advisory lock (infra/locks.py) serialises runners, so instances that start
  together apply each file exactly once.
- Each file runs in its own transaction together with its bookkeeping row: a failing file
  leaves neither. A file whose first line is `-- migrate: no-transaction` (for what cannot run
  in a transaction, such as CREATE INDEX CONCURRENTLY) runs its statements one by one, then
  records itself: if one fails, those before it stay, so write them to be repeatable
  (IF NOT EXISTS).
- An applied file that changed (checksum) or disappeared stops the runner before it applies
  anything.
- `migrations/schema.sql` is the schema after every migration, as `schema()` prints it: a
  test compares it with a freshly migrated database, so a migration's effect shows in review
  as a diff of that file.

Command line: `pipenv run migrate` applies what is pending; `pipenv run migrate status` lists;
`pipenv run migrate snapshot` writes migrations/schema.sql anew (on a throwaway PostgreSQL 16).
"""

import hashlib
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2.extras import RealDictCursor

from infra import locks

log = logging.getLogger("migrations")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA_FILE = MIGRATIONS_DIR / "schema.sql"
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
NO_TRANSACTION = "-- migrate: no-transaction"

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

    @property
    def in_transaction(self) -> bool:
        return not self.sql.startswith(NO_TRANSACTION)


@dataclass(frozen=True)
class Status:
    version: int
    name: str
    state: str  # applied, pending, changed or missing
    applied_at: object = None


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        if path.name == SCHEMA_FILE.name:
            continue  # the snapshot, not a migration
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
        self.conn = psycopg2.connect(
            self.dsn, connect_timeout=10, application_name="migrations", cursor_factory=RealDictCursor
        )
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            # Session lock: released at unlock, or by the server if this process dies.
            cur.execute("SELECT pg_advisory_lock(%s)", (locks.MIGRATIONS,))
            cur.execute(CREATE_TABLE)
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        try:
            if not self.conn.closed:
                with self.conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (locks.MIGRATIONS,))
        finally:
            self.conn.close()


def _applied(conn) -> dict[int, dict]:
    with conn.cursor() as cur:
        cur.execute(SELECT_APPLIED)
        return {row["version"]: row for row in cur.fetchall()}


def _compare(files: list[Migration], applied: dict[int, dict]) -> list[Status]:
    by_version = {m.version: m for m in files}
    statuses = []
    for version in sorted(set(by_version) | set(applied)):
        migration, row = by_version.get(version), applied.get(version)
        if row is None:
            statuses.append(Status(version, migration.name, "pending"))
        elif migration is None:
            statuses.append(Status(version, row["name"], "missing", row["applied_at"]))
        elif migration.checksum != row["checksum"]:
            statuses.append(Status(version, migration.name, "changed", row["applied_at"]))
        else:
            statuses.append(Status(version, migration.name, "applied", row["applied_at"]))
    return statuses


def _apply(conn, migration: Migration) -> None:
    if not migration.in_transaction:
        _apply_outside_a_transaction(conn, migration)
        return
    started = time.monotonic()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(migration.sql)
            _record(cur, migration, started)
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise MigrationError(f"{migration.filename} failed and was rolled back: {exc}".strip()) from exc
    finally:
        conn.autocommit = True
    log.info("applied migration %s", migration.filename)


def _apply_outside_a_transaction(conn, migration: Migration) -> None:
    started = time.monotonic()
    statements = split_statements(migration.sql)
    with conn.cursor() as cur:
        for number, statement in enumerate(statements, 1):
            try:
                cur.execute(statement)
            except psycopg2.Error as exc:
                raise MigrationError(
                    f"{migration.filename} (no transaction) failed at statement {number} of {len(statements)}; "
                    f"those before it stay applied: {exc}".strip()
                ) from exc
        _record(cur, migration, started)
    log.info("applied migration %s (no transaction, %d statements)", migration.filename, len(statements))


def _record(cur, migration: Migration, started: float) -> None:
    cur.execute(
        INSERT_APPLIED,
        {
            "version": migration.version,
            "name": migration.name,
            "checksum": migration.checksum,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )


# A statement ends at a ';' outside quotes, quoted names, dollar-quoted bodies and comments.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$[A-Za-z_0-9]*\$)|--[^\n]*|/\*.*?\*/|;", re.S)


def split_statements(sql: str) -> list[str]:
    """The statements of a SQL file, one by one (for a file that runs outside a transaction:
    PostgreSQL runs a multi-statement string in one implicit transaction)."""
    statements, start, position = [], 0, 0
    while (match := _TOKEN.search(sql, position)) is not None:
        position = match.end()
        if match.group(1):  # a dollar quote: skip to its closing tag
            close = sql.find(match.group(1), position)
            position = len(sql) if close < 0 else close + len(match.group(1))
        elif match.group(0) == ";":
            statements.append(sql[start:position])
            start = position
    statements.append(sql[start:])
    return [s.strip() for s in statements if _code(s)]


def _code(statement: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/|;|\s", "", statement, flags=re.S)


# -- the schema snapshot ------------------------------------------------------------------

SCHEMA_HEADER = """-- The schema after every migration, as migrations.schema() prints it. Do not edit: run
-- `pipenv run migrate snapshot` after adding a migration and commit the result with it.
"""

SCHEMA_QUERIES = {
    "sequences": """
        SELECT format('CREATE SEQUENCE %s AS %s;', c.oid::regclass, format_type(s.seqtypid, NULL)) AS line
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
        WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1""",
    "tables": """
        SELECT format(E'CREATE TABLE %s (\n%s\n);', c.oid::regclass, string_agg(
                   format('    %I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                          CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                          ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)),
                   E',\n' ORDER BY a.attnum)) AS line
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        GROUP BY c.oid ORDER BY c.oid::regclass::text""",
    "constraints": """
        SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname,
                      pg_get_constraintdef(oid)) AS line
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype <> 't'
        ORDER BY conrelid::regclass::text, conname""",
    "indexes": """
        SELECT pg_get_indexdef(i.indexrelid) || ';' AS line
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        ORDER BY 1""",
    "functions": """
        SELECT pg_get_functiondef(p.oid) || ';' AS line
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
        ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)""",
    "triggers": """
        SELECT pg_get_triggerdef(t.oid) || ';' AS line
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace
        ORDER BY c.oid::regclass::text, t.tgname""",
}


def schema(dsn: str) -> str:
    """The schema of the database's public schema as SQL text, in a stable order: what
    migrations/schema.sql holds after every migration."""
    conn = psycopg2.connect(dsn, connect_timeout=10, application_name="migrations", cursor_factory=RealDictCursor)
    try:
        conn.autocommit = True
        sections = [SCHEMA_HEADER]
        with conn.cursor() as cur:
            for title, query in SCHEMA_QUERIES.items():
                cur.execute(query)
                lines = [row["line"].rstrip() for row in cur.fetchall()]
                sections.append(f"-- {title}\n\n" + "\n\n".join(lines) + "\n")
        return "\n".join(sections)
    finally:
        conn.close()


def write_snapshot(path: Path = SCHEMA_FILE) -> None:
    """Migrate a throwaway PostgreSQL 16 cluster from nothing and write its schema to `path`."""
    from infra.postgres import throwaway_cluster

    with throwaway_cluster() as server:
        dsn = server.create_database("snapshot")
        migrate(dsn)
        path.write_text(schema(dsn))


def main(argv: list[str]) -> int:
    from infra.logs import configure_logging
    from infra.postgres import PostgresError, provide_database
    from infra.settings import SettingsError, load_settings

    action = argv[0] if argv else "up"
    if action not in ("up", "status", "snapshot"):
        print("usage: migrations.py [up|status|snapshot]", file=sys.stderr)
        return 2
    if action == "snapshot":
        from infra.postgres import PostgresError

        try:
            write_snapshot()
        except (MigrationError, PostgresError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {SCHEMA_FILE.relative_to(Path.cwd()) if SCHEMA_FILE.is_relative_to(Path.cwd()) else SCHEMA_FILE}")
        return 0
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
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
