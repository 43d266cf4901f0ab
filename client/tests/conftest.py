"""The client's tests run against the real service (a process, as in production) on a fresh
PostgreSQL 16 database: `new_database` comes from the project's root conftest."""

import contextlib
import logging
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from bench.service_process import ServiceProcess
from infra.postgres import free_port
from infra.settings import PROJECT_ROOT, Settings

from config_client import ConfigClient


@pytest.fixture(scope="session")
def service(new_database) -> Iterator[ServiceProcess]:
    """One service for the tests that only need it running (each uses names of its own)."""
    # A short grace: a stop must not wait for long-polls the service still holds.
    with ServiceProcess(database_url=new_database(), shutdown_grace=1) as process:
        yield process


@pytest.fixture
def admin(service: ServiceProcess) -> Iterator[ConfigClient]:
    with ConfigClient(service.url) as client:
        yield client


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test (or earlier run) uses."""
    return lambda label="name": f"{label}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app(admin: ConfigClient, unique) -> str:
    """A new application's name."""
    return admin.create_application(unique("app"), "made by a client test").name


# -- access control (AUTH=tokens) --------------------------------------------------------

SECRET = re.compile(r"cfs_[A-Za-z0-9_\-]+")


def _token_script() -> list[str]:
    """The README's way to make the first admin token: `pipenv run token create ...`, the
    Pipfile's script (its `python`, this interpreter)."""
    script = re.search(r'^token\s*=\s*"([^"]+)"', (PROJECT_ROOT / "Pipfile").read_text(), re.M)
    assert script is not None, "the Pipfile has no `token` script: access control (issue 10) is missing"
    return [sys.executable if part == "python" else part for part in script.group(1).split()]


def _first_admin_secret(database_url: str) -> str:
    done = subprocess.run(
        [*_token_script(), "create", "--name", "first-admin", "--scope", "admin"],
        cwd=PROJECT_ROOT,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    secret = SECRET.search(done.stdout)
    assert secret is not None, done.stdout
    return secret.group(0)


@pytest.fixture(scope="session")
def secured(new_database) -> Iterator[tuple[ServiceProcess, dict[str, str]]]:
    """A service with AUTH=tokens, a secret of each scope ("read", "write", "admin"), and an
    application "guarded" with a configuration "c" ({"v": 1}). Access control is required:
    without it every test that uses this fails (never skips)."""
    assert "auth" in Settings.model_fields, "the service has no AUTH setting: access control (issue 10) is missing"
    _token_script()  # before a service is started for nothing
    dsn = new_database()
    with ServiceProcess(database_url=dsn, auth="tokens", shutdown_grace=1) as service:
        admin_secret = _first_admin_secret(dsn)
        assert httpx.get(f"{service.url}/api/v1/applications").status_code == 401, "AUTH=tokens is not enforced"
        secrets = {"admin": admin_secret}
        for scope in ("read", "write"):
            response = httpx.post(
                f"{service.url}/api/v1/tokens",
                json={"name": f"a-{scope}-token", "scope": scope},
                headers={"Authorization": f"Bearer {admin_secret}"},
            )
            assert response.status_code == 201, response.text
            secrets[scope] = SECRET.search(response.text).group(0)
        with ConfigClient(service.url, token=admin_secret) as admin:
            admin.create_application("guarded")
            admin.create("guarded", "c", {"v": 1})
        yield service, secrets


class Restartable:
    """A service on a fixed port and database of its own, to stop and start again."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: ServiceProcess | None = None

    def start(self) -> None:
        # A short grace: a stop must not wait for held long-polls.
        self.process = ServiceProcess(database_url=self.database_url, port=self.port, shutdown_grace=1)
        self.process.__enter__()

    def stop(self) -> None:
        if self.process is not None:
            self.process.close()
            self.process = None


@pytest.fixture
def restartable(new_database) -> Iterator[Restartable]:
    """A service of the test's own, started; the test may stop and start it."""
    service = Restartable(new_database())
    service.start()
    yield service
    service.stop()


class WireMeter:
    """A TCP relay in front of the service that keeps every byte the service sends, so a test
    can see what really crossed the wire."""

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.received = bytearray()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def take(self) -> bytes:
        """What the service sent since the last take."""
        with self._lock:
            data = bytes(self.received)
            self.received.clear()
        return data

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [downstream, upstream]
            threading.Thread(target=self._pipe, args=(downstream, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, downstream, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(65536):
                if count:
                    with self._lock:
                        self.received += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def wire(service: ServiceProcess) -> Iterator[WireMeter]:
    meter = WireMeter(service.port)
    yield meter
    meter.close()


@pytest.fixture
def warnings_logged(caplog) -> Callable[[], list[str]]:
    """The client's warnings so far."""
    caplog.set_level(logging.INFO, logger="config_client")
    return lambda: [
        r.getMessage() for r in caplog.records if r.name == "config_client" and r.levelno == logging.WARNING
    ]
