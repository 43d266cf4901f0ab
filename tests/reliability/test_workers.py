"""WORKERS=2: one port, two processes, each with its own read model and listener; to a client
the same service as one process (revision order, If-Match, watches, the change feed), a read
through either worker shows a write made through the other, and the parent starts the
embedded PostgreSQL once, replaces a worker that dies and stops them all on SIGTERM."""

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from bench.service_process import ServiceProcess
from infra.postgres import free_port
from tests.support import a_client_on_each_worker, postgres_processes_using

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def fresh(service: ServiceProcess, method: str, path: str, **kwargs) -> httpx.Response:
    """One request on a connection of its own: the kernel hands it to either worker."""
    with httpx.Client(base_url=service.url, timeout=30) as client:
        return client.request(method, path, **kwargs)


def access_lines(service: ServiceProcess) -> list[dict]:
    lines = [json.loads(line) for line in service.log().splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "api.access"]


@pytest.fixture
def two_workers(database_url) -> Iterator[ServiceProcess]:
    with ServiceProcess(database_url=database_url, workers=2, log_format="json", access_log="true") as service:
        yield service


@pytest.fixture
def application(two_workers, unique) -> dict:
    return fresh(two_workers, "POST", APPS, json={"name": unique("app")}).json()


@pytest.fixture
def one_on_each(two_workers) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two kept-alive connections, one to each worker, and no other."""
    with a_client_on_each_worker(two_workers.url, limits=httpx.Limits(max_connections=1)) as clients:
        yield clients


def test_a_read_through_either_worker_right_after_a_write_through_the_other_shows_the_write(
    two_workers, one_on_each, application, unique
):
    name = quote(application["name"], safe="")
    for n in range(100):
        writer, reader = one_on_each if n % 2 else reversed(one_on_each)
        body = {"application_id": application["id"], "name": unique("c"), "config": {"n": n}}
        created = writer.post(CONFIGS, json=body)
        assert created.status_code == 201
        config = created.json()
        assert reader.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"n": n}
        changed = reader.put(f"{CONFIGS}/{config['id']}", json={**body, "config": {"n": -n}})
        assert changed.status_code == 200
        by_name = writer.get(f"/api/v1/config/{name}/{quote(config['name'], safe='')}")
        assert (by_name.status_code, by_name.json()["config"]) == (200, {"n": -n})
        assert "x-config-stale" not in by_name.headers
        changed = writer.put(f"{CONFIGS}/{config['id']}", json={**body, "config": {"n": n * 10}})
        bundle = reader.get(f"/api/v1/config/{name}").json()
        assert {c["name"]: c["config"] for c in bundle["configurations"]}[config["name"]] == {"n": n * 10}
        assert reader.get(f"{APPS}/{application['id']}").json()["configuration_ids"][-1:] != []

    # Every line of the log is one JSON object; an access line says who, what, how long.
    lines = access_lines(two_workers)
    assert {line["worker"] for line in lines if line["method"] == "PUT"} == {0, 1}
    read = next(line for line in lines if line["route"] == "/api/v1/config/{application_name}/{configuration_name}")
    assert read["status"] == 200 and read["duration_ms"] > 0 and read["request_id"]


def hold_watch(url: str, service, etag: str, answers: list) -> None:
    response = fresh(service, "GET", url, headers={"If-None-Match": etag})
    answers.append((response.status_code, response.json(), time.monotonic()))


def test_if_match_and_watches_work_across_workers(two_workers, application, unique):
    body = {"application_id": application["id"], "name": unique("watched"), "config": {"v": 0}}
    config = fresh(two_workers, "POST", CONFIGS, json=body).json()
    path = f"/api/v1/config/{quote(application['name'], safe='')}/{quote(body['name'], safe='')}"
    etag = fresh(two_workers, "GET", path).headers["etag"]

    # Watches held on fresh connections, woken by a write through either worker, until some were
    # held by each: a worker accepts every connection waiting when it wakes, so they arrive apart.
    watching: set[int] = set()
    for attempt in range(1, 6):
        answers: list[tuple[int, dict, float]] = []
        url, args = f"{path}?wait=20&attempt={attempt}", (two_workers, etag, answers)
        watchers = [threading.Thread(target=hold_watch, args=(url, *args)) for _ in range(8)]
        for thread in watchers:
            thread.start()
            time.sleep(0.05)
        time.sleep(1)
        assert answers == []

        changed = fresh(
            two_workers,
            "PUT",
            f"{CONFIGS}/{config['id']}",
            json={**body, "config": {"v": attempt}},
            headers={"If-Match": etag},
        )
        assert changed.status_code == 200
        written = time.monotonic()
        for thread in watchers:
            thread.join(10)
        assert [(status, view["config"]) for status, view, _ in answers] == [(200, {"v": attempt})] * 8
        assert max(at for _, _, at in answers) - written < 2
        # The old ETag is no longer current, whichever worker checks it.
        for _ in range(4):
            stale = fresh(two_workers, "PUT", f"{CONFIGS}/{config['id']}", json=body, headers={"If-Match": etag})
            assert stale.status_code == 412
        etag = changed.headers["etag"]
        watching = {line["worker"] for line in access_lines(two_workers) if "?wait=20&attempt=" in line["path"]}
        if watching == {0, 1}:
            break
    assert watching == {0, 1}


def test_a_follower_of_the_feed_sees_every_acknowledged_change_in_order(two_workers, application, unique):
    after = 0
    while page := fresh(two_workers, "GET", "/api/v1/changes", params={"after": after, "limit": 1000}).json():
        after = page[-1]["revision"]
    acknowledged: list[int] = []
    seen: list[int] = []
    stop = threading.Event()

    def write(k: int) -> None:
        for n in range(15):
            body = {"application_id": application["id"], "name": unique(f"w{k}-{n}"), "config": {}}
            response = fresh(two_workers, "POST", CONFIGS, json=body)
            assert response.status_code == 201
            acknowledged.append(int(response.headers["etag"].strip('"')))

    def follow() -> None:
        position = after
        while not stop.is_set() or position < max(acknowledged, default=0):
            page = fresh(two_workers, "GET", "/api/v1/changes", params={"after": position, "wait": 2}).json()
            for change in page:
                seen.append(change["revision"])
                position = change["revision"]

    follower = threading.Thread(target=follow)
    follower.start()
    writers = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    follower.join(30)
    assert not follower.is_alive()
    assert seen == sorted(set(seen)), "the feed repeated or reordered changes"
    assert set(acknowledged) <= set(seen)


def test_a_worker_that_dies_is_replaced_and_the_others_keep_serving(two_workers, application):
    deadline = time.monotonic() + 60
    while "2 workers serving" not in two_workers.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    before = two_workers.worker_pids()
    assert len(before) == 2
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = two_workers.worker_pids()
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no worker replaced the one killed:\n{two_workers.log()[-3000:]}")
    # The replacement serves once ready; meanwhile the other worker does.
    for _ in range(20):
        assert fresh(two_workers, "GET", f"{APPS}/{application['id']}").status_code == 200
    assert "exited with status -9; starting another" in two_workers.log()
    assert two_workers.stop() == 0


def test_a_worker_that_cannot_start_stops_the_service_with_one_line():
    service = ServiceProcess(
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none", workers=2, db_startup_wait=1
    ).start()
    try:
        assert service.process.wait(timeout=60) == 1
    finally:
        service.close()
    log = service.log()
    assert "cannot start: database 127.0.0.1" in log
    assert "before it served: stopping" in log
    assert "Traceback" not in log


def test_sigterm_answers_held_watches_stops_every_worker_then_the_embedded_postgres(unique):
    root = Path(tempfile.mkdtemp(prefix="config-service-workers-"))
    try:
        with ServiceProcess(pg_data_dir=root / "pgdata", pg_port=free_port(), workers=2, shutdown_grace=30) as service:
            assert len(postgres_processes_using(root)) > 0
            workers = service.worker_pids()
            app = fresh(service, "POST", APPS, json={"name": unique("app")}).json()
            body = {"application_id": app["id"], "name": "held", "config": {}}
            fresh(service, "POST", CONFIGS, json=body)
            path = f"/api/v1/config/{quote(app['name'], safe='')}/held"
            etag = fresh(service, "GET", path).headers["etag"]
            statuses: list[int] = []

            def watch() -> None:
                statuses.append(fresh(service, "GET", f"{path}?wait=60", headers={"If-None-Match": etag}).status_code)

            watchers = [threading.Thread(target=watch) for _ in range(6)]
            for thread in watchers:
                thread.start()
            time.sleep(1)
            stopping = time.monotonic()
            assert service.stop(signal.SIGTERM) == 0
            took = time.monotonic() - stopping
            for thread in watchers:
                thread.join(5)
        assert statuses == [304] * 6
        assert took < 10  # held watches answered at once, not after their 60 s nor the 30 s grace
        assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
        assert postgres_processes_using(root) == []
        log = service.log()
        assert log.count("embedded PostgreSQL 16 on") == 1 and "embedded PostgreSQL stopped" in log
        assert "Traceback" not in log
    finally:
        shutil.rmtree(root, ignore_errors=True)
