"""PostgreSQL 16 on the cluster's database hosts: a primary, and a streaming standby made from
a base backup of it.

The servers listen on their host's address only. The test itself administers them through a
Unix socket in the host's directory (reachable by root and the server's user only), so
nothing of its own travels on the hosts' network.
"""

import signal
import subprocess
import time
from pathlib import Path

import psycopg2

from tests.cluster.network import SUBNET, Host, own

PORT = 5432
SYNCHRONOUS = """
SELECT 1 FROM pg_stat_replication
WHERE application_name = %s AND state = 'streaming' AND sync_state = 'sync'
"""


class ClusterError(Exception):
    pass


class Server:
    def __init__(self, host: Host, bin_dir: Path, user: str) -> None:
        self.host = host
        self.bin_dir = bin_dir
        self.user = user
        self.data_dir = host.dir / "data"
        self.log_file = host.dir / "postgres.log"
        self.process: subprocess.Popen | None = None
        own(host.dir, user)
        host.dir.chmod(0o700)  # its socket trusts whoever reaches it

    def init_primary(self) -> None:
        argv = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-E", "UTF8"]
        argv += ["--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]
        result = self.host.run(
            argv,
            user=self.user,
            timeout=120,
        )
        if result.returncode != 0:
            raise ClusterError(f"initdb: {result.stderr.strip()[-500:]}")
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all config_service {SUBNET}.0/24 scram-sha-256\n"
            f"host replication replicator {SUBNET}.0/24 scram-sha-256\n"
        )

    def init_standby(self, primary: "Server", password: str, basebackup: Path) -> None:
        """A base backup of `primary` taken over the network, with a replication slot, then
        told to follow it under the standby's own name (what synchronous_standby_names means)."""
        argv = [str(basebackup), "-h", primary.host.address, "-p", str(PORT), "-U", "replicator"]
        argv += ["-D", str(self.data_dir), "-X", "stream", "-C", "-S", self.host.name, "--checkpoint=fast"]
        result = self.host.run(
            argv,
            env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        if result.returncode != 0:
            raise ClusterError(f"pg_basebackup: {result.stderr.strip()[-500:]}")
        (self.data_dir / "standby.signal").touch()
        conninfo = (
            f"host={primary.host.address} port={PORT} user=replicator password={password} "
            f"application_name={self.host.name}"
        )
        with open(self.data_dir / "postgresql.auto.conf", "a") as conf:
            conf.write(f"primary_conninfo = '{conninfo}'\nprimary_slot_name = '{self.host.name}'\n")
        own(self.data_dir, self.user)  # the backup ran as root

    def start(self, timeout: float = 60.0) -> None:
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for setting in (
            f"listen_addresses={self.host.address}",
            f"port={PORT}",
            f"unix_socket_directories={self.host.dir}",
            "max_connections=100",
            "wal_level=replica",
            "max_wal_senders=5",
        ):
            argv += ["-c", setting]
        with open(self.log_file, "ab") as log:
            # If the test process dies, a fast shutdown rather than a lingering server.
            self.process = self.host.popen(argv, user=self.user, deathsig=signal.SIGINT, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ClusterError(f"postgres on {self.host.name} exited: {self.log_tail()}")
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise ClusterError(f"postgres on {self.host.name} not ready: {self.log_tail()}") from None
                time.sleep(0.1)

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """fast: sessions end, and the standbys receive all WAL before it exits; immediate: as
        a crash (no shutdown checkpoint, nothing more sent)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal({"fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode])
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ClusterError(f"postgres on {self.host.name} did not stop in {timeout}s") from None

    def connect(self, dbname: str = "postgres"):
        return psycopg2.connect(host=str(self.host.dir), port=PORT, user="postgres", dbname=dbname, connect_timeout=5)

    def sql(self, statement: str, params: object = None, dbname: str = "postgres") -> list[tuple]:
        conn = self.connect(dbname)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def build_pair(primary: Server, standby: Server, app_password: str, basebackup: Path) -> None:
    """A primary with the service's role and database, and a synchronous standby of it."""
    replication_password = app_password + "-replication"
    primary.init_primary()
    primary.start()
    primary.sql("CREATE ROLE replicator REPLICATION LOGIN PASSWORD %s", (replication_password,))
    primary.sql("CREATE ROLE config_service LOGIN PASSWORD %s", (app_password,))
    primary.sql("CREATE DATABASE config_service OWNER config_service TEMPLATE template0 ENCODING 'UTF8'")
    standby.init_standby(primary, replication_password, basebackup)
    standby.start()
    # Set after the base backup, so only the primary has it: a promoted standby that had it
    # too would wait for a standby of its own at every commit.
    primary.sql("ALTER SYSTEM SET synchronous_standby_names = %s", (standby.host.name,))
    primary.sql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 30
    while not primary.sql(SYNCHRONOUS, (standby.host.name,)):
        if time.monotonic() > deadline:
            raise ClusterError(f"the standby is not streaming synchronously: {standby.log_tail()}")
        time.sleep(0.1)
