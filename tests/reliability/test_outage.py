"""A database outage in the middle of a write load: polite 503s while it is down, recovery by
itself once it is back, and every acknowledged write still there afterwards."""

import asyncio
import itertools
import json
import re
import time
import uuid
from datetime import datetime

import httpx
import psycopg2
import pytest

from bench.service_process import ServiceProcess
from conftest import start_throwaway_postgres, stop_throwaway_postgres
from tests.reliability.load import Connection, drive, statuses

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
UP_BEFORE, DOWN_FOR, UP_AFTER = 3.0, 4.0, 8.0


@pytest.fixture
def durable_postgres():
    """A server of its own (the outage must not touch the others), with fsync on."""
    server = start_throwaway_postgres(durable=True)
    yield server
    stop_throwaway_postgres(server)


LOGGED_503 = re.compile(
    r"^(?P<at>\S+ \S+) WARNING +api: 503 (?P<cause>.+?) \[request_id=[^\]]+\]"
    r"(?P<left_out> \(and \d+ more like it in the last [\d.]+s\))?$"
)


def test_outage_gives_503s_then_recovers_and_loses_no_acknowledged_write(durable_postgres):
    dsn = durable_postgres.create_database("outage")
    with ServiceProcess(database_url=dsn, db_connect_timeout=1) as service:
        with httpx.Client(base_url=service.url) as client:
            app_id = client.post(APPS, json={"name": "outage"}).json()["id"]
            config = client.post(CONFIGS, json={"application_id": app_id, "name": "c", "config": {}}).json()
            assert client.get(f"{CONFIGS}/{config['id']}").status_code == 200  # held by the read model

        async def write(connection: Connection, rng):
            body = {"application_id": app_id, "name": uuid.uuid4().hex, "config": {"n": rng.random()}}
            return await connection.request("POST", CONFIGS, body)

        async def outage() -> tuple[float, float, list[tuple[int, dict]]]:
            await asyncio.sleep(UP_BEFORE)
            down_at = time.monotonic()
            await asyncio.to_thread(durable_postgres.stop, "immediate")
            await asyncio.sleep(1.0)
            probes = []
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
                for path in ("/health", f"{CONFIGS}/{config['id']}", f"{APPS}/{app_id}"):
                    response = await client.get(path)
                    probes.append((response.status_code, response.json(), dict(response.headers)))
            await asyncio.sleep(DOWN_FOR - 1.0)
            await asyncio.to_thread(durable_postgres.start)
            return down_at, time.monotonic(), probes

        async def scenario():
            return await asyncio.gather(
                drive(service.url, clients=16, seconds=UP_BEFORE + DOWN_FOR + UP_AFTER, request=write, timeout=15),
                outage(),
            )

        outcomes, (down_at, up_at, probes) = asyncio.run(scenario())
        log = service.log()

    # While it was down: /health and reads said 503, with the one error body.
    for status, body, headers in probes:
        assert status == 503, body
        assert body["code"] == "database_unavailable" and "retry-after" in headers

    # Every request got an HTTP answer: 201, or a 503 with JSON and Retry-After; never a 500.
    assert [o.error for o in outcomes if o.status is None] == []
    assert set(statuses(outcomes)) <= {201, 503}
    unavailable = [o for o in outcomes if o.status == 503]
    assert unavailable, "the outage produced no 503s: was the database really down?"
    for outcome in unavailable:
        body = outcome.response.json()
        assert body["code"] in ("database_unavailable", "overloaded")
        assert "retry-after" in outcome.response.headers
        assert outcome.elapsed < 5
        assert not re.search(r"postgres(ql)?://|SELECT|INSERT|Traceback|psycopg2", outcome.response.body.decode())
    # 503s are logged with a request id, at most once a second per cause; the next line of a
    # cause counts those left out.
    logged = [LOGGED_503.search(line) for line in log.splitlines()]
    logged = [(datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S,%f"), m["cause"], m) for m in logged if m]
    assert 0 < len(logged) < len(unavailable)
    for cause in {cause for _, cause, _ in logged}:
        times = sorted(at for at, c, _ in logged if c == cause)
        assert all((b - a).total_seconds() >= 0.99 for a, b in itertools.pairwise(times)), (cause, times)
    assert any(m["left_out"] for _, _, m in logged)
    assert any(f"[request_id={o.response.headers['x-request-id']}]" in log for o in unavailable)

    # It recovered by itself, within 5 s of the database coming back, and stayed up.
    recovered_at = min(o.started + o.elapsed for o in outcomes if o.status == 201 and o.started > up_at)
    recovery = recovered_at - up_at
    late = [o for o in outcomes if o.started > recovered_at + 1]
    assert recovery < 5
    assert late and all(o.status == 201 for o in late)

    # Every write acknowledged with 201, before, during or after the outage, is stored.
    acknowledged = {o.response.json()["id"] for o in outcomes if o.status == 201}
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM configurations WHERE id = ANY(%s)", (list(acknowledged),))
            found = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert found == acknowledged

    print(
        "\n"
        + json.dumps(
            {
                "requests": len(outcomes),
                "statuses": statuses(outcomes),
                "down_s": round(up_at - down_at, 1),
                "recovered_after_s": round(recovery, 2),
                "acknowledged": len(acknowledged),
                "found": len(found),
            }
        )
    )
