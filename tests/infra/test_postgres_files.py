"""The embedded PostgreSQL's files when the service runs as root: the cluster's folder and its
files stay the service user's, a planted symlink stops the start, the server runs as a user
of its own, and the service connects as a role that is no superuser, also on a cluster made
by an earlier version."""

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from bench.service_process import ServiceProcess
from infra.ids import new_id
from infra.postgres import (
    SERVICE_ROLE,
    LocalPostgres,
    PostgresError,
    embedded_url,
    find_binaries,
    free_port,
    provide_database,
)
from infra.postgres_files import dedicated_user, server_user
from infra.settings import Settings
from migrations import MIGRATIONS_DIR, discover, migrate

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the server switches users only under root")


@pytest.fixture
def root() -> Iterator[Path]:
    # Inside a folder of 0700: the server user never needs to pass through what holds the cluster.
    parent = Path(tempfile.mkdtemp(prefix="config-service-files-"))
    yield parent / "cluster"
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder of root's, outside the cluster, for the targets of planted symlinks."""
    folder = Path(tempfile.mkdtemp(prefix="config-service-target-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def as_server_user(*argv: str) -> subprocess.CompletedProcess:
    user = server_user()
    return subprocess.run(
        argv, capture_output=True, text=True, user=user.uid, group=user.gid, extra_groups=[], cwd="/", timeout=30
    )


def test_the_cluster_folder_is_the_service_users_and_only_the_data_folder_the_servers(root):
    with LocalPostgres(root, free_port(), find_binaries(), durable=False) as server:
        assert os.lstat(root).st_uid == os.geteuid() and mode(root) == 0o700
        assert sorted(p.name for p in root.iterdir()) == ["data", "password", "postgres.log", "service-password"]
        for name in ("password", "postgres.log", "service-password"):
            status = os.lstat(root / name)
            assert stat.S_ISREG(status.st_mode), name
            assert (status.st_uid, mode(root / name), status.st_nlink) == (os.geteuid(), 0o600, 1), name
        data = os.lstat(root / "data")
        assert stat.S_ISDIR(data.st_mode) and data.st_uid == server_user().uid and mode(root / "data") == 0o700
        server_uid = int(Path(f"/proc/{server._process.pid}/status").read_text().split("\nUid:")[1].split()[0])
        assert server_uid == server_user().uid
        assert "database system is ready to accept connections" in (root / "postgres.log").read_text()
        if server_user().switches:
            assert server_user().name not in ("root", "nobody")
            # The server writes its log, yet its user cannot open anything in the folder.
            for name in ("postgres.log", "password", "service-password"):
                refused = as_server_user("cat", str(root / name))
                assert refused.returncode != 0 and "Permission denied" in refused.stderr, name


@pytest.mark.parametrize("name", ["postgres.log", "password", "service-password", "data"])
def test_a_symlink_where_a_file_of_the_cluster_should_be_stops_the_start_and_its_target_stays_as_it_was(
    root, outside, name
):
    bin_dir = find_binaries()
    with LocalPostgres(root, free_port(), bin_dir, durable=False):
        pass
    target = outside / "precious"
    if name == "data":
        target.mkdir(mode=0o700)
        (target / "inside").write_text("root's own\n")
    else:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"root's own\n")
        os.close(fd)
    before = os.lstat(target)
    moved = root.parent / f"moved-{name}"
    (root / name).rename(moved)  # as the server user could once do, when the folder was its
    (root / name).symlink_to(target)

    server = LocalPostgres(root, free_port(), bin_dir, durable=False)
    with pytest.raises(PostgresError) as refused:
        server.start()
    message = str(refused.value)
    assert "\n" not in message
    assert f"{root / name} is a symbolic link" in message and "refusing to start" in message
    assert not server.running
    after = os.lstat(target)
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    if name == "data":
        assert sorted(p.name for p in target.iterdir()) == ["inside"]
        assert (target / "inside").read_text() == "root's own\n"
    else:
        assert target.read_text() == "root's own\n"

    (root / name).unlink()
    moved.rename(root / name)
    with LocalPostgres(root, free_port(), bin_dir, durable=False) as server:  # the link gone, all is well
        assert server.running


def test_serve_refuses_a_planted_log_symlink_in_one_line(root, outside):
    with LocalPostgres(root, free_port(), find_binaries(), durable=False):
        pass
    target = outside / "precious"
    target.write_text("root's own\n")
    target.chmod(0o600)
    (root / "postgres.log").unlink()
    (root / "postgres.log").symlink_to(target)

    service = ServiceProcess(pg_data_dir=root, pg_port=free_port())
    try:
        service.start()
        assert service.process.wait(timeout=60) == 1
    finally:
        service.close()
    assert f"cannot start: {root / 'postgres.log'} is a symbolic link" in service.log()
    assert "Traceback" not in service.log()
    assert target.read_text() == "root's own\n" and os.lstat(target).st_uid == os.geteuid() and mode(target) == 0o600


def service_role_of(dsn: str) -> tuple[str, bool, str]:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_user, rolsuper, pg_get_userbyid(datdba) FROM pg_roles, pg_database "
                "WHERE rolname = current_user AND datname = current_database()"
            )
            return cur.fetchone()
    finally:
        conn.close()


def test_the_service_connects_as_a_role_that_owns_its_database_and_is_no_superuser(root):
    settings = Settings(_env_file=None, pg_data_dir=root, pg_port=free_port())
    with provide_database(settings) as dsn:
        assert service_role_of(dsn) == (SERVICE_ROLE, False, SERVICE_ROLE)
        assert [m.filename for m in migrate(dsn)] == [m.filename for m in discover()]
        assert (root / "password").read_text().strip() not in dsn
        # The command-line tools, joining the running server, connect as the same role.
        assert service_role_of(embedded_url(root, settings.pg_port)) == (SERVICE_ROLE, False, SERVICE_ROLE)
        with provide_database(settings, join_running=True) as joined:
            assert service_role_of(joined) == (SERVICE_ROLE, False, SERVICE_ROLE)


def test_serve_connects_as_the_service_role(root):
    pg_port = free_port()
    with ServiceProcess(pg_data_dir=root, pg_port=pg_port) as service:
        conn = psycopg2.connect(embedded_url(root, pg_port))
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'config_service' AND pid <> %s",
                    (conn.get_backend_pid(),),
                )
                assert cur.fetchall() == [(SERVICE_ROLE,)]  # the service's pool and listener
        finally:
            conn.close()
        assert service.stop() == 0


# -- a cluster made by an earlier version ---------------------------------------------------


@contextlib.contextmanager
def earlier_server(root: Path, user: pwd.struct_passwd, port: int, bin_dir: Path) -> Iterator[str]:
    """The server as an earlier version ran it: as `user`, on root/data by its path, the log
    opened in the folder that user owned. Yields the superuser's URL."""
    argv = [str(bin_dir / "postgres"), "-D", str(root / "data"), "-c", f"port={port}"]
    argv += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"]
    with open(root / "postgres.log", "ab") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=log, user=user.pw_uid, group=user.pw_gid, extra_groups=[], start_new_session=True
        )
    url = f"postgresql://postgres:{(root / 'password').read_text().strip()}@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg2.connect(url, connect_timeout=2).close()
                break
            except psycopg2.OperationalError:
                assert process.poll() is None and time.monotonic() < deadline, (root / "postgres.log").read_text()
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def make_earlier_cluster(root: Path, user: pwd.struct_passwd, bin_dir: Path) -> None:
    """The layout of an earlier version: the folder and log the server user's (0755, 0644),
    the superuser's password root's, the password handed to initdb in a file."""
    root.parent.chmod(0o755)  # the server user had to reach the folder
    root.mkdir(mode=0o755)
    os.chown(root, user.pw_uid, user.pw_gid)
    password = "earlier-" + uuid.uuid4().hex
    (root / "password").write_text(password + "\n")
    (root / "password").chmod(0o600)
    handed = root / ".initdb-password"
    handed.write_text(password + "\n")
    os.chown(handed, user.pw_uid, user.pw_gid)
    initdb = [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "--auth=scram-sha-256"]
    subprocess.run(
        [*initdb, f"--pwfile={handed}", "-E", "UTF8", "--locale=C", "--no-sync"],
        check=True,
        capture_output=True,
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
    )
    handed.unlink()
    (root / "postgres.log").write_text("a line from an earlier start\n")
    (root / "postgres.log").chmod(0o644)
    os.chown(root / "postgres.log", user.pw_uid, user.pw_gid)


@as_root
@pytest.mark.parametrize("earlier_user", ["postgres", "nobody"])
def test_a_cluster_of_an_earlier_version_is_taken_back_and_handed_to_the_role_with_its_data(root, earlier_user):
    try:
        user = pwd.getpwnam(earlier_user)
    except KeyError:
        pytest.skip(f"no {earlier_user} user here")
    bin_dir = find_binaries()
    make_earlier_cluster(root, user, bin_dir)
    # Migrated by the superuser up to 0003: 0004 then builds an index on a table made by it.
    earlier_migrations = root.parent / "earlier-migrations"
    earlier_migrations.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("000[1-3]_*.sql")):
        shutil.copy(path, earlier_migrations / path.name)
    app_id, app_name = new_id(), f"kept-{uuid.uuid4().hex[:8]}"
    with earlier_server(root, user, free_port(), bin_dir) as superuser_url:
        conn = psycopg2.connect(superuser_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE config_service TEMPLATE template0 ENCODING 'UTF8'")
        conn.close()
        database_url = superuser_url.rsplit("/", 1)[0] + "/config_service"
        migrate(database_url, earlier_migrations)
        conn = psycopg2.connect(database_url)
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO applications (id, name) VALUES (%s, %s)", (app_id, app_name))
        conn.close()

    settings = Settings(_env_file=None, pg_data_dir=root, pg_port=free_port())
    with provide_database(settings) as dsn:
        assert service_role_of(dsn) == (SERVICE_ROLE, False, SERVICE_ROLE)
        assert [m.filename for m in migrate(dsn)] == [m.filename for m in discover()[3:]]
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT name FROM applications WHERE id = %s", (app_id,))
            assert cur.fetchone() == (app_name,)
            cur.execute("INSERT INTO applications (id, name) VALUES (%s, %s)", (new_id(), f"new-{app_name}"))
            # Tables, sequences and functions alike: nothing of the superuser's is left.
            cur.execute(
                "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "        AND relowner <> current_user::regrole), "
                "       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
                "        AND proowner <> current_user::regrole)"
            )
            assert cur.fetchone() == (0, 0)
        conn.close()

    assert os.lstat(root).st_uid == os.geteuid() and mode(root) == 0o700
    assert os.lstat(root / "data").st_uid == server_user().uid
    assert (os.lstat(root / "postgres.log").st_uid, mode(root / "postgres.log")) == (os.geteuid(), 0o600)
    assert (root / "postgres.log").read_text().startswith("a line from an earlier start\n")
    assert not (root / ".initdb-password").exists()
    with provide_database(settings) as dsn:  # and stays so
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM applications WHERE name LIKE %s", (f"%{app_name}",))
            assert cur.fetchone() == (2,)
        conn.close()


# -- who runs the server ----------------------------------------------------------------


@as_root
def test_the_server_user_is_never_nobody_and_a_missing_one_is_made_as_a_system_user():
    assert server_user().name != "nobody"
    name = f"cfs-test-{uuid.uuid4().hex[:8]}"
    try:
        made = dedicated_user(name)
        assert (made.pw_name, made.pw_shell) == (name, "/usr/sbin/nologin")
        assert 0 < made.pw_uid < 1000 and not Path(made.pw_dir).exists()  # a system user, no home
        assert dedicated_user(name) == made  # found, not made twice
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@as_root
def test_a_server_user_that_cannot_be_made_stops_the_start_with_what_to_run():
    with pytest.raises(PostgresError) as refused:
        dedicated_user("not a valid name!")
    message = str(refused.value)
    assert "\n" not in message
    assert "useradd --system --user-group --no-create-home" in message and "'not a valid name!'" in message
