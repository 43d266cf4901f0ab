"""/health/live and /health/ready as an orchestrator sees them: with the database away the
instance is live but not ready, and keeps answering reads by name from memory, marked stale;
ready again once the database is back. And /metrics gathers every worker's counts."""

import re
import time
from urllib.parse import quote

import httpx
import pytest

from bench.service_process import ServiceProcess
from conftest import start_throwaway_postgres, stop_throwaway_postgres
from tests.support import worker_of


@pytest.fixture
def own_postgres():
    server = start_throwaway_postgres()
    yield server
    stop_throwaway_postgres(server)


def wait_for(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_without_the_database_an_instance_is_live_not_ready_and_still_serves_stale_reads(own_postgres):
    dsn = own_postgres.create_database("probes")
    with (
        ServiceProcess(database_url=dsn, db_connect_timeout=1) as service,
        httpx.Client(base_url=service.url) as client,
    ):
        app = client.post("/api/v1/applications", json={"name": "probed"}).json()
        client.post("/api/v1/configurations", json={"application_id": app["id"], "name": "c", "config": {"v": 1}})
        by_name = f"/api/v1/config/{quote(app['name'])}/c"
        assert client.get(by_name).status_code == 200
        assert client.get("/health/ready").status_code == 200

        own_postgres.stop("immediate")
        try:
            wait_for(lambda: client.get("/health/ready").status_code == 503, timeout=10)
            ready = client.get("/health/ready")
            body = ready.json()
            assert (body["code"], body["database"]) == ("database_unavailable", "unavailable")
            assert int(ready.headers["retry-after"]) >= 1 and body["request_id"]
            assert client.get("/health/live").json() == {"status": "ok"}
            wait_for(lambda: client.get(by_name).headers.get("x-config-stale") == "true", timeout=10)
            stale = client.get(by_name)
            assert (stale.status_code, stale.json()["config"]) == (200, {"v": 1})
        finally:
            own_postgres.start()
        wait_for(lambda: client.get("/health/ready").status_code == 200, timeout=20)
        # Ready once the primary answers; the listener's reconnect, which ends staleness,
        # follows within seconds.
        wait_for(lambda: "x-config-stale" not in client.get(by_name).headers, timeout=10)


def test_metrics_gather_every_workers_counts(database_url, unique):
    with ServiceProcess(database_url=database_url, workers=2) as service:
        clients = [httpx.Client(base_url=service.url, limits=httpx.Limits(max_connections=1)) for _ in range(12)]
        try:
            workers = {worker_of(c.get("/health/live")) for c in clients}
            assert len(workers) == 2
            for client in clients:
                for _ in range(5):
                    assert client.get("/health/live").status_code == 200
            time.sleep(1.5)  # each worker adds what it counted every second
            text = clients[0].get("/metrics").text
        finally:
            for client in clients:
                client.close()
    counted = re.search(
        r'config_service_http_requests_total\{method="GET",route="/health/live",status="200"\} (\S+)', text
    )
    assert counted and float(counted.group(1)) == 12 * 6
    pids = set(re.findall(r'config_service_read_model_state\{pid="(\d+)",state="live"\} 1\.0', text))
    assert len(pids) == 2  # each worker's own read model
