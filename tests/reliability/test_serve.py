"""`pipenv run serve` the README's way: embedded PostgreSQL 16 by default, or DATABASE_URL."""

import resource
import shutil
import signal
import tempfile
from pathlib import Path

import httpx
import pytest

from bench.service_process import ServiceProcess
from infra.postgres import free_port
from tests.support import postgres_processes_using


@pytest.fixture
def data_dir():
    # Private (0700), as tmp_path is: the server user never passes through what holds the cluster.
    root = Path(tempfile.mkdtemp(prefix="config-service-serve-"))
    yield root / "pgdata"
    shutil.rmtree(root, ignore_errors=True)


def test_embedded_postgres_starts_keeps_data_across_restarts_and_stops(data_dir, unique):
    data = data_dir
    settings = {"pg_data_dir": data, "pg_port": free_port()}
    name = unique()

    with ServiceProcess(**settings) as service:
        created = httpx.post(f"{service.url}/api/v1/applications", json={"name": name}).json()
        assert postgres_processes_using(data)
    assert service.process.returncode == 0
    assert postgres_processes_using(data) == []

    with ServiceProcess(**settings) as service:
        assert httpx.get(f"{service.url}/api/v1/applications/{created['id']}").json()["name"] == name
        assert service.stop(signal.SIGINT) == 0
    assert postgres_processes_using(data) == []


def test_database_url_is_used_and_no_postgres_is_started(database_url, tmp_path):
    data = tmp_path / "unused-pgdata"
    with ServiceProcess(database_url=database_url, pg_data_dir=data) as service:
        assert httpx.get(f"{service.url}/health").status_code == 200
    assert not data.exists()
    assert "embedded PostgreSQL" not in service.log()


def test_serve_raises_its_open_file_limit_to_the_hard_limit_and_logs_it(database_url):
    """Every held watch is an open socket: ten thousand of them need more than the usual 1,024."""
    own_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    started_with = min(own_soft, 256)  # what the service inherits: below its hard limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (started_with, hard))
    try:
        service = ServiceProcess(database_url=database_url).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (own_soft, hard))
    try:
        service.wait_healthy()
        limits = Path(f"/proc/{service.process.pid}/limits").read_text()
        soft, its_hard = next(line.split()[3:5] for line in limits.splitlines() if line.startswith("Max open files"))
        assert int(soft) > started_with and soft == its_hard
        assert f"open files: up to {soft}" in service.log()
    finally:
        service.close()


def test_without_any_postgresql_16_serve_says_how_to_provide_one(tmp_path):
    service = ServiceProcess(pg_bin=tmp_path, pg_data_dir=tmp_path / "pgdata")
    try:
        service.start()
        assert service.process.wait(timeout=60) == 1
    finally:
        service.close()
    assert f"cannot start: PG_BIN={tmp_path} holds no PostgreSQL 16 server" in service.log()
    assert "Traceback" not in service.log()
