"""The embedded PostgreSQL asks for a password: a generated one, in a file only the service's
user can read. A cluster made when every local connection was trusted switches over."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

from infra.postgres import LocalPostgres, find_binaries, free_port, provide_database
from infra.postgres_files import server_user
from infra.settings import PROJECT_ROOT, Settings


@pytest.fixture
def root():
    # Reachable by the server user: the trusting cluster below is made as earlier versions did.
    parent = Path(tempfile.mkdtemp(prefix="config-service-auth-"))
    parent.chmod(0o755)
    yield parent / "cluster"
    shutil.rmtree(parent, ignore_errors=True)


def refused_without_password(server: LocalPostgres) -> bool:
    try:
        psycopg2.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return "password" in str(exc)
    return False


def test_a_new_cluster_asks_for_the_password_kept_for_the_service_user_only(root):
    with LocalPostgres(root, free_port(), find_binaries(), durable=False) as server:
        assert refused_without_password(server)
        conn = psycopg2.connect(server.superuser_url(), connect_timeout=3)
        try:
            with conn.cursor() as cur:
                # scram-sha-256: the password is stored and checked as a salted verifier.
                cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
                assert cur.fetchone()[0].startswith("SCRAM-SHA-256$")
                cur.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type <> 'local'")
                assert [row[0] for row in cur.fetchall()] == ["scram-sha-256"]
        finally:
            conn.close()
        status = server.password_file.stat()
        assert stat.S_IMODE(status.st_mode) == 0o600 and status.st_uid == os.geteuid()
        assert len(server.password_file.read_text().strip()) >= 40
        assert not (root / ".initdb-password").exists()


def test_a_trusting_cluster_is_switched_to_a_password_and_keeps_its_data(root):
    bin_dir = find_binaries()
    root.mkdir()
    user = server_user()
    os.chown(root, user.uid, user.gid)  # as an earlier version left it
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
        **({"user": user.uid, "group": user.gid, "extra_groups": []} if user.switches else {}),
    )
    (root / "postgres.log").touch()
    os.chown(root / "postgres.log", user.uid, user.gid)
    server = LocalPostgres(root, free_port(), bin_dir, durable=False)
    server._start(60, trusting=True)  # as an earlier version of the service ran it
    try:
        conn = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        conn.close()
    finally:
        server.stop()

    with LocalPostgres(root, free_port(), bin_dir, durable=False) as server:
        assert refused_without_password(server)
        conn = psycopg2.connect(server.superuser_url())
        with conn.cursor() as cur:
            cur.execute("SELECT n FROM kept")
            assert cur.fetchone() == (42,)
        conn.close()
    with LocalPostgres(root, free_port(), bin_dir, durable=False) as server:  # and stays so
        assert refused_without_password(server)


def test_command_line_tools_join_the_embedded_server_that_serve_runs(root):
    with LocalPostgres(root, free_port(), find_binaries(), durable=False) as server:
        server.create_database("config_service")
        settings = Settings(_env_file=None, pg_data_dir=root, pg_port=free_port())  # port: from the running one
        with provide_database(settings, join_running=True) as dsn:
            psycopg2.connect(dsn).close()
        assert server.running  # joined, not stopped

        # As an operator runs them: no DATABASE_URL, the data directory `serve` uses.
        def run(script: str, *args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, str(PROJECT_ROOT / script), *args],
                cwd=root.parent,  # no developer .env
                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "PG_DATA_DIR": str(root)},
                capture_output=True,
                text=True,
                timeout=60,
            )

        assert run("migrations.py").returncode == 0
        created = run("tokens.py", "create", "--name", "ops", "--scope", "admin")
        assert created.returncode == 0 and created.stdout.startswith("cfs_"), created.stderr
        assert "ops\tadmin" in run("tokens.py", "list").stdout
        assert server.running
