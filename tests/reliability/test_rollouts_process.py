"""Rollouts across instances, as production runs them: a failure report rolls back on every
instance within a second, with every watcher answered; a step still comes on time, exactly
once, after the instance that started the rollout (or one of two workers) is killed; the fleet lists ten thousand
watching clients after one flush, and forgets them after CLIENT_TTL."""

import asyncio
import os
import signal
import time
from datetime import datetime

import httpx
import pytest

from bench.holders import allow_open_files, hold
from bench.service_process import ServiceProcess
from queries.rollouts import bucket
from tests.support import TWO_INSTANCES_OR_TWO_WORKERS, worker_of

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
WATCHERS = 10_000


@pytest.fixture
def database(new_database) -> str:
    return new_database()


def staged_configuration(base: str) -> dict:
    with httpx.Client(base_url=base) as client:
        app = client.post(APPS, json={"name": f"app-{time.monotonic_ns()}"}).json()
        created = client.post(
            CONFIGS, json={"application_id": app["id"], "name": "c", "config": {"v": 1}, "release": "staged"}
        ).json()
        client.put(f"{CONFIGS}/{created['id']}", json={"name": "c", "config": {"v": 2}}).raise_for_status()
    return {**created, "app_name": app["name"]}


async def watch(base: str, url: str, client_id: str, etag: str) -> tuple[int, float, dict, str]:
    """A watch held until what this client should hold changes, on a connection of its own;
    (status, when answered, body, who held it: the instance's base and its worker's prefix)."""
    async with httpx.AsyncClient(base_url=base, timeout=40) as client:
        response = await client.get(url, params={"wait": 30}, headers={"X-Client-Id": client_id, "If-None-Match": etag})
        body = response.json() if response.status_code == 200 else {}
        held_by = f"{base} {worker_of(response)}"
        return response.status_code, time.monotonic(), body, held_by


@TWO_INSTANCES_OR_TWO_WORKERS
def test_a_failure_report_rolls_back_on_every_instance_within_a_second(database, topology):
    with topology(database) as processes:
        one, two = (process.url for process in processes)
        config = staged_configuration(one)
        url = f"/api/v1/config/{config['app_name']}/c"
        started = httpx.post(f"{one}{CONFIGS}/{config['id']}/rollouts", json={"version": 2, "step_seconds": 600})
        assert started.status_code == 201
        canaries = [f"canary-{n}" for n in range(2000) if bucket(config["id"], f"canary-{n}") < 10][:20]
        time.sleep(0.5)  # instance two hears of the rollout
        tags = {}
        for cid in canaries:
            for base in (one, two):
                answer = httpx.get(f"{base}{url}", headers={"X-Client-Id": cid})  # a connection each
                assert answer.json()["version"] == 2  # the canaries hold the new version
                tags[cid] = answer.headers["etag"]

        async def scenario():
            watches = []
            for cid in canaries:
                for base in (one, two):
                    watches.append(asyncio.ensure_future(watch(base, url, cid, tags[cid])))
                    await asyncio.sleep(0.02)  # apart: a waking worker accepts every connection waiting
            await asyncio.sleep(1.0)
            assert not any(w.done() for w in watches)
            async with httpx.AsyncClient() as client:
                report = await client.post(
                    f"{two}{url}/reports",
                    json={"client_id": canaries[0], "version": 2, "ok": False, "message": "pool size out of range"},
                )
                answered = time.monotonic()
            assert report.status_code == 202
            return answered, await asyncio.gather(*watches)

        answered, results = asyncio.run(scenario())
        assert [status for status, _, _, _ in results] == [200] * len(results)  # every watcher answered
        assert {body["version"] for _, _, body, _ in results} == {1}  # with the version live before
        assert max(at for _, at, _, _ in results) - answered < 1.0
        # Held by both instances, or both workers (a request id starts with its worker's prefix).
        assert len({held_by for _, _, _, held_by in results}) == 2
        rollout = httpx.get(f"{one}{CONFIGS}/{config['id']}/rollouts").json()[0]
        assert rollout["state"] == "rolled_back" and "pool size out of range" in rollout["reason"]


def test_a_step_comes_on_time_exactly_once_after_the_starting_instance_is_killed(database):
    with ServiceProcess(database_url=database) as survivor:
        first = ServiceProcess(database_url=database).start()
        try:
            first.wait_healthy()
            config = staged_configuration(first.url)
            rollout = start_rollout(first.url, config)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
        finally:
            first.close()
        one_step_on_time(survivor.url, config, rollout)


def test_a_step_comes_on_time_exactly_once_after_a_worker_is_killed(database):
    """With WORKERS=2 every worker follows the rollout: with one killed (its parent starts
    another), the step still comes once, on time."""
    with ServiceProcess(database_url=database, workers=2) as service:
        config = staged_configuration(service.url)
        rollout = start_rollout(service.url, config)
        killed = service.worker_pids()[0]
        os.kill(killed, signal.SIGKILL)
        one_step_on_time(service.url, config, rollout)
        assert killed not in service.worker_pids() and len(service.worker_pids()) == 2  # replaced


def start_rollout(base: str, config: dict) -> dict:
    with httpx.Client() as client:
        started = client.post(f"{base}{CONFIGS}/{config['id']}/rollouts", json={"version": 2, "step_seconds": 3})
    assert started.status_code == 201
    return started.json()


def one_step_on_time(base: str, config: dict, rollout: dict) -> None:
    """The rollout's first step comes within 10 s, exactly once in the feed, and within 5 s of
    its `next_step_at`."""
    with httpx.Client(base_url=base) as client:
        due = rollout["next_step_at"]
        deadline = time.monotonic() + 10
        while (now := client.get(f"{CONFIGS}/{config['id']}/rollouts/{rollout['id']}").json())["percent"] == 10:
            assert time.monotonic() < deadline, "no step within 10 s"
            time.sleep(0.05)
        assert now["percent"] == 50
        steps = [
            c
            for c in client.get("/api/v1/changes", params={"after": 0, "limit": 1000}).json()
            if c["kind"] == "rollout" and c["id"] == rollout["id"] and c["action"] == "step"
        ]
    assert len(steps) == 1  # exactly once
    late = (datetime.fromisoformat(steps[0]["at"]) - datetime.fromisoformat(due)).total_seconds()
    assert 0 <= late < 5  # on time: within 5 s of next_step_at


def test_the_fleet_lists_ten_thousand_watching_clients_after_one_flush(database):
    allow_open_files(WATCHERS + 1000)
    with ServiceProcess(database_url=database, fleet_flush_seconds=1) as service:
        config = staged_configuration(service.url)
        url = f"/api/v1/config/{config['app_name']}/c"
        etag = httpx.get(f"{service.url}{url}").headers["etag"]
        ids = [f"watcher-{n}" for n in range(WATCHERS)]

        async def watch_all() -> list:
            each = [{"X-Client-Id": client_id} for client_id in ids]
            held = await hold(service.url, [f"{url}?wait=15"] * WATCHERS, {"If-None-Match": etag}, each=each)
            await asyncio.gather(*(h.task for h in held))
            return held

        held = asyncio.run(watch_all())
        assert [(h.status, h.error) for h in held if h.status != 304] == []
        time.sleep(1.5)  # one flush
        listed, after = [], None
        while True:  # every page of the fleet, by its Link header's `after`
            params = {"limit": 1000, **({"after": after} if after else {})}
            page = httpx.get(f"{service.url}{CONFIGS}/{config['id']}/clients", params=params)
            fleet = page.json()
            listed += fleet["clients"]
            if "link" not in page.headers:
                break
            after = fleet["clients"][-1]["client_id"]
        assert sorted(c["client_id"] for c in listed) == sorted(ids)
        assert fleet["versions"] == {"1": WATCHERS} and all(c["version"] == 1 for c in listed)


def test_the_fleet_forgets_a_client_not_seen_within_client_ttl(database):
    with ServiceProcess(database_url=database, client_ttl=2, fleet_flush_seconds=0.5) as service:
        config = staged_configuration(service.url)
        url = f"{service.url}/api/v1/config/{config['app_name']}/c"
        assert httpx.get(url, headers={"X-Client-Id": "brief"}).status_code == 200
        time.sleep(1)
        clients = f"{service.url}{CONFIGS}/{config['id']}/clients"
        assert [c["client_id"] for c in httpx.get(clients).json()["clients"]] == ["brief"]
        time.sleep(2)
        assert httpx.get(clients).json() == {"clients": [], "versions": {}}
