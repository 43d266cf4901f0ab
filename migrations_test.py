"""The migration runner against a real PostgreSQL 16: each test migrates a new, empty database."""

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

import migrations
from infra import locks
from migrations import MIGRATIONS_DIR, MigrationError, discover, migrate, status


def fetch(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def execute(dsn: str, sql: str, params: tuple = ()) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def table_exists(dsn: str, name: str) -> bool:
    return fetch(dsn, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]


@pytest.fixture
def dsn(new_database) -> str:
    return new_database()


@pytest.fixture
def migration_dir(tmp_path: Path) -> Path:
    """A copy of the real migrations that a test may change."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    return directory


def test_fresh_database_gets_every_migration_with_its_checksum(dsn):
    files = discover()
    applied = migrate(dsn)

    assert [m.version for m in applied] == [m.version for m in files]
    rows = fetch(dsn, "SELECT version, name, checksum FROM migrations ORDER BY version")
    assert rows == [(m.version, m.name, m.checksum) for m in files]
    assert table_exists(dsn, "applications") and table_exists(dsn, "configurations")


def test_migrated_schema_has_the_spec_columns(dsn):
    migrate(dsn)
    columns = fetch(
        dsn,
        """SELECT table_name, column_name, data_type, character_maximum_length, is_nullable
           FROM information_schema.columns
           WHERE table_name IN ('applications', 'configurations')
           ORDER BY table_name, ordinal_position""",
    )
    # The spec's columns first, then what each change carries: its version, revision, times.
    history = [
        ("version", "integer", None, "NO"),
        ("revision", "bigint", None, "NO"),
        ("created_at", "timestamp with time zone", None, "NO"),
        ("updated_at", "timestamp with time zone", None, "NO"),
    ]
    assert columns == [
        ("applications", "id", "character varying", 26, "NO"),
        ("applications", "name", "character varying", 256, "NO"),
        ("applications", "comments", "character varying", 1024, "YES"),
        *(("applications", *column) for column in history),
        ("configurations", "id", "character varying", 26, "NO"),
        ("configurations", "application_id", "character varying", 26, "NO"),
        ("configurations", "name", "character varying", 256, "NO"),
        ("configurations", "comments", "character varying", 1024, "YES"),
        ("configurations", "config", "jsonb", None, "NO"),
        *(("configurations", *column) for column in history),
        # The document as written (0008); `config` is derived from it.
        ("configurations", "document", "json", None, "NO"),
        # How a change reaches clients, and the version they get (0010).
        ("configurations", "release", "text", None, "NO"),
        ("configurations", "live_version", "integer", None, "NO"),
        # Its secret values' pointers (0011).
        ("configurations", "secrets", "ARRAY", None, "NO"),
    ]
    constraints = {
        row[0]
        for row in fetch(
            dsn,
            """SELECT pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid IN ('applications'::regclass, 'configurations'::regclass)""",
        )
    }
    assert "UNIQUE (name)" in constraints
    assert "UNIQUE (application_id, name)" in constraints
    assert "FOREIGN KEY (application_id) REFERENCES applications(id)" in constraints
    indexes = {row[0] for row in fetch(dsn, "SELECT indexdef FROM pg_indexes WHERE tablename = 'configurations'")}
    assert any("(application_id, id)" in index for index in indexes)


def test_upgrading_a_database_that_holds_data_brings_it_along_as_version_1(dsn, migration_dir):
    """Data written under 0001-0002 gets version 1, the migration's time, one revision each,
    its first history entry and its 'created' feed entry; then changes continue from there."""
    for later in sorted(migration_dir.glob("*.sql"))[2:]:
        later.unlink()
    migrate(dsn, migration_dir)
    app, other, config = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P5", "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P6"
    execute(
        dsn,
        "INSERT INTO applications VALUES (%s, 'billing', 'old'), (%s, 'search', NULL);"
        "INSERT INTO configurations VALUES (%s, %s, 'prod', NULL, '{\"a\": 1}')",
        (app, other, config, app),
    )
    started = fetch(dsn, "SELECT now()")[0][0]

    assert [m.version for m in migrate(dsn)] == [m.version for m in discover()][2:]

    apps = fetch(
        dsn,
        "SELECT id, version, revision, created_at = updated_at, created_at >= %s FROM applications ORDER BY id",
        (started,),
    )
    assert apps == [(app, 1, 1, True, True), (other, 1, 2, True, True)]
    assert fetch(dsn, "SELECT id, version, revision, config FROM configurations") == [(config, 1, 3, {"a": 1})]
    assert fetch(dsn, "SELECT configuration_id, version, revision, name, config FROM configuration_versions") == [
        (config, 1, 3, "prod", {"a": 1})
    ]
    assert fetch(
        dsn, "SELECT revision, action, kind, id, application_id, name, version FROM changes ORDER BY revision"
    ) == [
        (1, "created", "application", app, app, "billing", 1),
        (2, "created", "application", other, other, "search", 1),
        (3, "created", "configuration", config, app, "prod", 1),
    ]
    # The next change continues the numbering, and the history.
    execute(dsn, "UPDATE configurations SET config = '{\"a\": 2}' WHERE id = %s", (config,))
    assert fetch(dsn, "SELECT version, revision FROM configurations") == [(2, 4)]
    assert fetch(dsn, "SELECT max(revision), count(*) FROM changes") == [(4, 4)]


def test_upgrading_keeps_each_document_as_its_jsonb_text_and_records_nothing(dsn, migration_dir):
    """0008: existing documents and versions get their jsonb's text (compact), without a new
    version or feed entry; from then on documents are kept as written, and `config` follows."""
    for later in migration_dir.glob("*.sql"):
        if later.name[:4].isdigit() and int(later.name[:4]) >= 8:
            later.unlink()
    migrate(dsn, migration_dir)
    app, config = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P6"
    execute(
        dsn,
        "INSERT INTO applications (id, name) VALUES (%s, 'billing');"
        "INSERT INTO configurations (id, application_id, name, config) "
        'VALUES (%s, %s, \'prod\', \'{"zeta": 1, "a": {"y": 2.50, "b": "x, \\" : y"}}\');'
        "UPDATE configurations SET config = '{\"v\": [1, 2]}' WHERE id = %s",
        (app, config, app, config),
    )
    before = fetch(dsn, "SELECT count(*), max(revision) FROM changes")

    migrate(dsn)

    # jsonb's order (shorter keys first), its text without the spaces between tokens.
    assert fetch(dsn, "SELECT document::text FROM configurations") == [('{"v":[1,2]}',)]
    assert fetch(dsn, "SELECT version, document::text FROM configuration_versions ORDER BY version") == [
        (1, '{"a":{"b":"x, \\" : y","y":2.50},"zeta":1}'),
        (2, '{"v":[1,2]}'),
    ]
    assert fetch(dsn, "SELECT count(*), max(revision) FROM changes") == before
    # A document written now is kept as written; one written as jsonb by an operator follows.
    execute(dsn, 'UPDATE configurations SET document = \'{"z":1,"a":1.50}\' WHERE id = %s', (config,))
    assert fetch(dsn, "SELECT document::text, config FROM configurations") == [('{"z":1,"a":1.50}', {"z": 1, "a": 1.5})]
    execute(dsn, "UPDATE configurations SET config = '{\"q\": 1}' WHERE id = %s", (config,))
    assert fetch(dsn, "SELECT version, document::text FROM configuration_versions ORDER BY version DESC LIMIT 1") == [
        (4, '{"q":1}')
    ]


def test_the_feed_and_the_history_refuse_to_be_rewritten(dsn):
    migrate(dsn)
    execute(
        dsn,
        "INSERT INTO applications (id, name) VALUES ('01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4', 'feed');"
        "INSERT INTO configurations (id, application_id, name, config) "
        "VALUES ('01JDQ8ZJ1T2K5X1VJ4Q6M2N3P5', '01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4', 'c', '{}')",
    )
    for statement in (
        "UPDATE changes SET actor = 'mallory'",
        "DELETE FROM changes",
        "TRUNCATE changes",
        "UPDATE configuration_versions SET name = 'x'",
        "DELETE FROM configuration_versions",
        "TRUNCATE applications CASCADE",
    ):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            execute(dsn, statement)
    assert fetch(dsn, "SELECT count(*), min(actor) FROM changes") == [(2, None)]
    assert fetch(dsn, "SELECT count(*), min(name) FROM configuration_versions") == [(1, "c")]


def test_second_run_is_a_no_op(dsn):
    migrate(dsn)
    before = fetch(dsn, "SELECT version, applied_at FROM migrations ORDER BY version")

    assert migrate(dsn) == []
    assert fetch(dsn, "SELECT version, applied_at FROM migrations ORDER BY version") == before


def test_changed_applied_file_is_refused_and_nothing_else_is_applied(dsn, migration_dir):
    migrate(dsn, migration_dir)
    first = sorted(migration_dir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after it was applied\n")
    (migration_dir / "9001_new_table.sql").write_text("CREATE TABLE new_table (id int);")

    with pytest.raises(MigrationError, match=re.escape(f"{first.name} was applied but is changed")):
        migrate(dsn, migration_dir)
    assert not table_exists(dsn, "new_table")
    assert status(dsn, migration_dir)[0].state == "changed"


def test_missing_applied_file_is_refused(dsn, migration_dir):
    (migration_dir / "9001_extra.sql").write_text("CREATE TABLE extra (id int);")
    migrate(dsn, migration_dir)
    (migration_dir / "9001_extra.sql").unlink()

    with pytest.raises(MigrationError, match=re.escape("9001_extra.sql was applied but is missing")):
        migrate(dsn, migration_dir)


def test_failing_file_leaves_neither_its_row_nor_partial_schema(dsn, migration_dir):
    (migration_dir / "9001_half_done.sql").write_text(
        "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT * FROM no_such_table;\n"
    )

    with pytest.raises(MigrationError, match=re.escape("9001_half_done.sql failed and was rolled back")):
        migrate(dsn, migration_dir)

    assert not table_exists(dsn, "half_done")
    versions = [row[0] for row in fetch(dsn, "SELECT version FROM migrations ORDER BY version")]
    assert 9001 not in versions
    assert versions == [m.version for m in discover()]  # the good files before it stay applied

    # Once fixed, the file applies.
    (migration_dir / "9001_half_done.sql").write_text("CREATE TABLE half_done (id int);")
    assert [m.version for m in migrate(dsn, migration_dir)] == [9001]


def test_concurrent_runners_apply_each_file_exactly_once(dsn, migration_dir):
    # A slow file keeps the runners overlapping; without the lock they would both apply it.
    (migration_dir / "9001_slow.sql").write_text("SELECT pg_sleep(0.5);\nCREATE TABLE slow (id int);")
    runners = 4
    barrier = threading.Barrier(runners)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            applied.append([m.version for m in migrate(dsn, migration_dir)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    every_version = sorted(m.version for m in discover(migration_dir))
    assert sorted(v for run_versions in applied for v in run_versions) == every_version
    rows = fetch(dsn, "SELECT version, count(*) FROM migrations GROUP BY version ORDER BY version")
    assert rows == [(v, 1) for v in every_version]


def test_badly_named_file_is_refused(migration_dir):
    (migration_dir / "2_no_padding.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=re.escape("named NNNN_description.sql")):
        discover(migration_dir)


def test_status_lists_pending_then_applied(dsn):
    assert {s.state for s in status(dsn)} == {"pending"}
    migrate(dsn)
    assert {s.state for s in status(dsn)} == {"applied"}


def test_command_line_applies_and_reports(dsn):
    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "migrations.py", *args],
            cwd=Path(migrations.__file__).parent,
            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": dsn},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert f"applied {len(discover())} migration(s)" in run("up")
    assert "applied   applications_and_configurations" in run("status")


def test_the_schema_snapshot_is_what_the_migrations_make(dsn):
    migrate(dsn)
    assert migrations.schema(dsn) == migrations.SCHEMA_FILE.read_text(), (
        "migrations/schema.sql is out of date: run `pipenv run migrate snapshot` and commit it"
    )


def test_every_advisory_lock_key_is_the_one_infra_locks_names(dsn):
    migrate(dsn)
    bodies = fetch(
        dsn,
        "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace AND pg_get_functiondef(oid) LIKE '%%pg_advisory%%'",
    )
    # One function takes the revision lock; every change calls it.
    assert [(name, f"pg_advisory_xact_lock({locks.REVISIONS})" in body) for name, body in bodies] == [
        ("lock_revisions", True)
    ]
    assert locks.MIGRATIONS != locks.REVISIONS
    assert "pg_advisory_lock(%s)" in Path(migrations.__file__).read_text()  # the runner's, by the name


def test_a_no_transaction_migration_runs_what_a_transaction_cannot(dsn, migration_dir):
    (migration_dir / "0900_concurrent_indexes.sql").write_text(
        "-- migrate: no-transaction\n"
        "-- Built without blocking writes; repeatable, as a no-transaction file must be.\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS changes_actor_idx ON changes (actor);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS changes_at_idx ON changes (at);\n"
    )
    applied = migrate(dsn, migration_dir)
    assert applied[-1].version == 900 and not applied[-1].in_transaction
    indexes = fetch(dsn, "SELECT indexname FROM pg_indexes WHERE indexname IN ('changes_actor_idx', 'changes_at_idx')")
    assert sorted(indexes) == [("changes_actor_idx",), ("changes_at_idx",)]
    assert fetch(dsn, "SELECT version FROM migrations WHERE version = 900") == [(900,)]


def test_a_failing_no_transaction_migration_is_not_recorded_and_says_what_stayed(dsn, migration_dir):
    (migration_dir / "0900_half.sql").write_text(
        "-- migrate: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS changes_actor_idx ON changes (actor);\n"
        "CREATE INDEX CONCURRENTLY no_such_idx ON no_such_table (x);\n"
    )
    with pytest.raises(MigrationError, match=r"statement 2 of 2; those before it stay applied"):
        migrate(dsn, migration_dir)
    assert fetch(dsn, "SELECT count(*) FROM migrations WHERE version = 900") == [(0,)]
    assert fetch(dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'changes_actor_idx'") == [(1,)]


def test_statements_are_split_outside_quotes_comments_and_function_bodies():
    sql = (
        "SELECT ';' AS \"a;b\";\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;\n"
        "-- a comment; not a statement\n"
        "/* nor; this */ SELECT 2\n"
    )
    assert migrations.split_statements(sql) == [
        "SELECT ';' AS \"a;b\";",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;",
        "-- a comment; not a statement\n/* nor; this */ SELECT 2",
    ]
