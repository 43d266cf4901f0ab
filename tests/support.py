"""Helpers shared by the test suites."""

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.service_process import ServiceProcess
from commands.bus import CommandBus
from infra.database import Database
from infra.settings import Settings
from infra.writes import ANYONE, Caller
from queries.views import ChangeView

# TestClient's requests name the host `testserver`: an app under test answers to it as well
# as to the loopback names a local service answers to by default.
TEST_HOSTS = ("testserver", "localhost", "127.0.0.1", "::1")


def app_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for an app under test: never the developer's .env."""
    return Settings(_env_file=None, database_url=database_url, **{"allowed_hosts": TEST_HOSTS, **overrides})


def database(database_url: str, **overrides: object) -> Database:
    """A Database for tests of the sides below the API; close it after use."""
    options = {
        "read_workers": 2,
        "write_workers": 2,
        "connect_timeout": 3,
        "statement_timeout_ms": 5000,
        "queue_max": 100,
        "queue_timeout": 5,
        **overrides,
    }
    return Database(database_url, **options)


def announcement(
    revision: int, kind: str, id: str, application_id: str, name: str = "n", action: str = "updated", version: int = 1
) -> ChangeView:
    """A change as the listener hands it over (for tests that play the listener's part)."""
    return ChangeView(
        revision=revision,
        at="2026-11-28T00:00:00Z",
        actor=None,
        request_id=None,
        action=action,
        kind=kind,
        id=id,
        application_id=application_id,
        name=name,
        version=version,
    )


def compact_json(value: object) -> str:
    """A document's text as the service stores a plain dict (compact, keys in order)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def perform(db: Database, command: object, caller: Caller = ANYONE) -> dict:
    """Carry out a command through the bus, alone; the row its write left (for a deletion,
    what its event says of it)."""
    done = CommandBus(db).run(command, caller)
    if done.row is not None:
        return done.row
    return {"id": done.id, "application_id": done.application_id, "name": done.name, "revision": done.revision}


def postgres_processes_using(path) -> list[str]:
    """PostgreSQL processes on a data folder under `path`, named on their command line or
    found by their working directory (a server runs in its data folder, whatever its `-D`)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "postgres" in args and (str(path) in args or os.readlink(proc / "cwd").startswith(str(path))):
                found.append(args)
    return found


def worker_of(response: httpx.Response) -> str:
    """Which process (worker) answered: its request ids share a prefix (api/middleware.py)."""
    return response.headers["x-request-id"].split("-")[0]


@contextlib.contextmanager
def a_client_on_each_worker(url: str, **options: object) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two clients of a service of two workers, the kept-alive connection of each on another
    worker. Requests a client makes one after another stay on its worker (within the server's
    keep-alive time); those it makes at once open more connections, which go to either, unless
    `limits` allows it one connection only."""
    clients = [httpx.Client(base_url=url, timeout=30, **options) for _ in range(16)]
    try:
        by_worker: dict[str, httpx.Client] = {}
        for client in clients:
            by_worker.setdefault(worker_of(client.get("/health")), client)
        assert len(by_worker) == 2, "every connection went to one worker"
        one, two = by_worker.values()
        yield one, two
    finally:
        for client in clients:
            client.close()


@contextlib.contextmanager
def two_workers(database_url: str, **settings: object) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """What a test of two instances also runs against, since workers behave as one service
    does: one service of WORKERS=2 on the database, a client on each worker."""
    with (
        ServiceProcess(database_url=database_url, workers=2, **settings) as service,
        a_client_on_each_worker(service.url) as clients,
    ):
        yield clients


@contextlib.contextmanager
def two_clients(topology: str, database_url: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """`topology` "two instances": two apps in this process on the database (each its own read
    model and listener), live; "two workers": one service of two workers, a client on each."""
    if topology == "two workers":
        with two_workers(database_url) as clients:
            yield clients
        return
    from fastapi.testclient import TestClient

    from api.app import create_app

    with (
        TestClient(create_app(app_settings(database_url))) as one,
        TestClient(create_app(app_settings(database_url))) as two,
    ):
        deadline = time.monotonic() + 10
        while {one.get("/health").json()["read_model"], two.get("/health").json()["read_model"]} != {"live"}:
            assert time.monotonic() < deadline, "an instance did not become live"
            time.sleep(0.05)
        yield one, two


@contextlib.contextmanager
def as_two_instances(database_url: str, **settings: object) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two service processes on the database."""
    with (
        ServiceProcess(database_url=database_url, **settings) as one,
        ServiceProcess(database_url=database_url, **settings) as two,
    ):
        yield one, two


@contextlib.contextmanager
def as_two_workers(database_url: str, **settings: object) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """One service of two workers, twice: each new connection to it goes to either worker, as
    to either of two instances."""
    with ServiceProcess(database_url=database_url, workers=2, **settings) as service:
        yield service, service


# A test of two instances that also runs against one service of two workers.
TWO_INSTANCES_OR_TWO_WORKERS = pytest.mark.parametrize(
    "topology", [as_two_instances, as_two_workers], ids=["two instances", "two workers"]
)
