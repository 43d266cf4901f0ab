"""Last-known-good: while the database is away, client services reading by name keep getting
what the read model holds, marked stale; everything else says 503; once the database is
back, staleness ends and the latest versions show."""

import asyncio
import json
import time
from urllib.parse import quote

import httpx
import pytest

from bench.service_process import ServiceProcess
from conftest import start_throwaway_postgres, stop_throwaway_postgres
from tests.reliability.load import Connection, drive, statuses

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
UP_BEFORE, DOWN_FOR, UP_AFTER = 2.0, 4.0, 7.0
CONFIGURATIONS = 40


@pytest.fixture
def durable_postgres():
    server = start_throwaway_postgres(durable=True)
    yield server
    stop_throwaway_postgres(server)


def test_reads_by_name_are_served_stale_during_an_outage_and_fresh_after(durable_postgres):
    dsn = durable_postgres.create_database("stale")
    with ServiceProcess(database_url=dsn, db_connect_timeout=1) as service:
        with httpx.Client(base_url=service.url) as client:
            app = client.post(APPS, json={"name": "shop/eu"}).json()
            configs = [
                client.post(CONFIGS, json={"application_id": app["id"], "name": f"c{n}", "config": {"v": 1}}).json()
                for n in range(CONFIGURATIONS)
            ]
            urls = [f"/api/v1/config/{quote(app['name'], safe='')}/c{n}" for n in range(CONFIGURATIONS)]
            for url in urls:  # held from now on
                assert client.get(url).status_code == 200
            bundle_url = f"/api/v1/config/{quote(app['name'], safe='')}"
            assert client.get(bundle_url).status_code == 200
            watched_tag = client.get(urls[0]).headers["etag"]

        async def read(connection: Connection, rng):
            return await connection.request("GET", urls[rng.randrange(CONFIGURATIONS)])

        async def outage():
            await asyncio.sleep(UP_BEFORE)
            down_at = time.monotonic()
            await asyncio.to_thread(durable_postgres.stop, "immediate")
            stopped_at = time.monotonic()  # the server has exited (on a busy machine, a while later)
            await asyncio.sleep(1.0)
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as probe:
                during = {
                    "health": await probe.get("/health"),
                    "by_id": await probe.get(f"{CONFIGS}/{configs[0]['id']}"),
                    "bundle": await probe.get(bundle_url),
                    "missing": await probe.get(f"{bundle_url}/not-held"),
                    "write": await probe.post(APPS, json={"name": "during"}),
                    # A held watch stays held, and ends as 304 at its time.
                    "watch": await probe.get(urls[0], params={"wait": 2}, headers={"If-None-Match": watched_tag}),
                }
            await asyncio.sleep(DOWN_FOR - 3.0)
            starting_at = time.monotonic()  # the server may answer before start() returns
            await asyncio.to_thread(durable_postgres.start)
            return down_at, stopped_at, starting_at, time.monotonic(), during

        async def scenario():
            return await asyncio.gather(
                drive(service.url, clients=8, seconds=UP_BEFORE + DOWN_FOR + UP_AFTER, request=read, timeout=10),
                outage(),
            )

        outcomes, (down_at, stopped_at, starting_at, up_at, during) = asyncio.run(scenario())

        # The latest versions show after recovery.
        with httpx.Client(base_url=service.url) as client:
            for config in configs[:5]:
                client.put(f"{CONFIGS}/{config['id']}", json={"name": config["name"], "config": {"v": 2}})
            for n in range(5):
                response = client.get(urls[n])
                assert response.json()["config"] == {"v": 2} and "x-config-stale" not in response.headers
        log = service.log()

    # Every read by name of a held configuration got its 200, down or not; never a 5xx.
    assert [o.error for o in outcomes if o.status is None] == []
    assert set(statuses(outcomes)) == {200}, statuses(outcomes)
    for outcome in outcomes:
        body = outcome.response.json()
        assert body["config"] == {"v": 1} and outcome.response.headers["etag"]
    # The header shows exactly while the database is away.
    stale = [o for o in outcomes if o.response.headers.get("x-config-stale") == "true"]
    assert stale, "no stale reads: was the database really down?"
    assert all(down_at <= o.started + o.elapsed and o.started <= up_at + 5 for o in stale)
    surely_down = [o for o in outcomes if o.started > stopped_at + 1 and o.started + o.elapsed < starting_at]
    fresh_while_down = [
        (round(o.started - stopped_at, 3), round(o.elapsed, 3))
        for o in surely_down
        if o.response.headers.get("x-config-stale") != "true"
    ]
    assert surely_down and not fresh_while_down, f"(s after the stop, s taken): {fresh_while_down[:20]}"
    assert not [o for o in stale if o.started > up_at + 5]  # ended within 5 s

    # Everything else said 503; /health said why, and that stale reads are served.
    health = during["health"]
    assert health.status_code == 503 and health.json()["stale_reads"] is True
    assert health.json()["read_model"] == "stale" and health.json()["code"] == "database_unavailable"
    assert during["by_id"].status_code == 503 and during["write"].status_code == 503
    assert during["missing"].status_code == 503  # not held: nothing to serve
    assert during["bundle"].status_code == 200 and during["bundle"].headers["x-config-stale"] == "true"
    assert during["watch"].status_code == 304
    assert " 500 " not in log and "Traceback" not in log

    print(
        "\n"
        + json.dumps(
            {
                "reads": len(outcomes),
                "statuses": statuses(outcomes),
                "stale": len(stale),
                "down_s": round(up_at - down_at, 1),
                "stale_ended_after_s": round(max(o.started + o.elapsed for o in stale) - up_at, 2),
            }
        )
    )
