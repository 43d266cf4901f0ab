"""Load: 256 concurrent clients get answers, never a 5xx; beyond capacity, a polite 503."""

import asyncio
import threading
import uuid

import httpx
import psycopg2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from bench.service_process import ServiceProcess
from tests.reliability.load import Connection, drive, statuses
from tests.support import app_settings

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def seed(base_url: str) -> tuple[list[str], list[dict]]:
    with httpx.Client(base_url=base_url) as client:
        apps = [client.post(APPS, json={"name": f"load-{uuid.uuid4().hex}"}).json()["id"] for _ in range(20)]
        configs = [
            client.post(CONFIGS, json={"application_id": apps[n % 20], "name": f"c-{n}", "config": {"n": n}}).json()
            for n in range(50)
        ]
    return apps, configs


def test_256_clients_of_mixed_reads_and_writes_get_no_5xx_and_no_resets(database_url):
    with ServiceProcess(database_url=database_url) as service:
        apps, configs = seed(service.url)

        async def mixed(connection: Connection, rng):
            roll = rng.random()
            if roll < 0.40:
                return await connection.request("GET", f"{CONFIGS}/{rng.choice(configs)['id']}")
            if roll < 0.70:
                return await connection.request("GET", f"{APPS}/{rng.choice(apps)}")
            if roll < 0.85:
                body = {"application_id": rng.choice(apps), "name": uuid.uuid4().hex, "config": {"k": roll}}
                return await connection.request("POST", CONFIGS, body)
            if roll < 0.95:
                config = rng.choice(configs)
                body = {"name": config["name"], "config": {"r": roll}}
                return await connection.request("PUT", f"{CONFIGS}/{config['id']}", body)
            return await connection.request("POST", APPS, {"name": uuid.uuid4().hex})

        outcomes = asyncio.run(drive(service.url, clients=256, seconds=20, request=mixed))

    counts = statuses(outcomes)
    print(f"\n256 clients, 20 s: {len(outcomes)} requests, statuses {counts}")
    assert [o.error for o in outcomes if o.status is None] == []
    assert [o for o in outcomes if o.status >= 500] == []
    assert set(counts) <= {200, 201}
    assert len(outcomes) > 2000


@pytest.fixture
def one_writer_app(database_url):
    """An instance with one write worker, room for two waiting writes, a 0.5 s wait limit."""
    settings = app_settings(database_url, db_write_workers=1, db_queue_max=2, db_queue_timeout=0.5)
    with TestClient(create_app(settings)) as client:
        yield client


def test_writes_beyond_capacity_get_503_with_retry_after_never_500(one_writer_app, database_url):
    blocker = psycopg2.connect(database_url)
    results: list = []
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE applications IN ACCESS EXCLUSIVE MODE")  # the one worker will wait

        def create() -> None:
            response = one_writer_app.post(APPS, json={"name": f"queued-{uuid.uuid4().hex}"})
            results.append(response)

        threads = [threading.Thread(target=create) for _ in range(5)]
        for thread in threads:
            thread.start()
        threading.Event().wait(1.5)  # 2 refused (queue full) and 2 timed out by now
        blocker.rollback()
        for thread in threads:
            thread.join()
    finally:
        blocker.close()

    assert sorted(r.status_code for r in results) == [201, 503, 503, 503, 503]
    for response in results:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            assert response.json()["code"] == "overloaded"
