"""/api/v1/changes over HTTP: the audit log of every change, and waiting for the next one,
on one instance and across two."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support import two_clients

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
CHANGES = "/api/v1/changes"


def latest(client) -> int:
    """The newest revision, by walking the feed to its end."""
    after = 0
    while page := client.get(CHANGES, params={"after": after, "limit": 1000}).json():
        after = page[-1]["revision"]
    return after


def test_every_change_is_in_the_feed_with_who_when_and_what(client, unique):
    start = latest(client)
    app = client.post(APPS, json={"name": unique("app")}, headers={"X-Request-ID": "create-app"}).json()
    config = client.post(CONFIGS, json={"application_id": app["id"], "name": "c", "config": {}}).json()
    client.put(f"{CONFIGS}/{config['id']}", json={"name": "c", "config": {"v": 2}}, headers={"X-Request-ID": "put"})
    client.delete(f"{CONFIGS}/{config['id']}")
    client.post(f"{CONFIGS}/{config['id']}/versions/1/restore")
    client.patch(
        f"{APPS}/{app['id']}", json={"comments": "x"}, headers={"Content-Type": "application/merge-patch+json"}
    )

    feed = client.get(CHANGES, params={"after": start}).json()

    assert [(c["action"], c["kind"], c["id"], c["version"]) for c in feed] == [
        ("created", "application", app["id"], 1),
        ("created", "configuration", config["id"], 1),
        ("updated", "configuration", config["id"], 2),
        ("deleted", "configuration", config["id"], 2),
        ("restored", "configuration", config["id"], 3),
        ("updated", "application", app["id"], 2),
    ]
    assert [c["revision"] for c in feed] == sorted(c["revision"] for c in feed)
    assert feed[0]["request_id"] == "create-app" and feed[2]["request_id"] == "put"
    assert {c["actor"] for c in feed} == {None}  # until access control names them
    assert {c["application_id"] for c in feed} == {app["id"]}
    assert feed[1]["name"] == "c" and feed[0]["name"] == app["name"]
    assert set(feed[0]) == {
        "revision",
        "at",
        "actor",
        "request_id",
        "action",
        "kind",
        "id",
        "application_id",
        "name",
        "version",
    }


def test_the_feed_pages_oldest_first_from_revision_zero(client, unique):
    for _ in range(3):
        client.post(APPS, json={"name": unique()})
    first = client.get(CHANGES, params={"limit": 2})
    assert [c["revision"] for c in first.json()] == [1, 2]
    assert first.headers["link"] == f'<{CHANGES}?after=2&limit=2>; rel="next"'
    assert len(client.get(CHANGES).json()) <= 100
    for bad in ({"limit": 0}, {"limit": 1001}, {"after": -1}, {"after": "x"}, {"wait": 0}, {"wait": 61}):
        assert client.get(CHANGES, params=bad).status_code == 422, bad


def test_wait_holds_the_request_until_a_change_commits(client, unique):
    after = latest(client)
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        waiting = pool.submit(client.get, CHANGES, params={"after": after, "wait": 30})
        time.sleep(0.5)
        assert not waiting.done()
        app = client.post(APPS, json={"name": unique()}).json()
        response = waiting.result(timeout=5)
    assert [c["id"] for c in response.json()] == [app["id"]]
    assert time.monotonic() - started < 5


def test_wait_ends_with_an_empty_list_when_its_time_passes(client):
    after = latest(client)
    started = time.monotonic()
    response = client.get(CHANGES, params={"after": after, "wait": 1})
    assert response.status_code == 200 and response.json() == []
    assert 0.9 < time.monotonic() - started < 3


def test_waiting_requests_hold_no_database_connection_or_worker(client, unique):
    """Far more waiting requests than database workers, and reads and writes still go through."""
    after = latest(client)
    with ThreadPoolExecutor(40) as pool:
        waiting = [pool.submit(client.get, CHANGES, params={"after": after, "wait": 20}) for _ in range(32)]
        time.sleep(0.5)
        started = time.monotonic()
        app = client.post(APPS, json={"name": unique()}).json()
        assert client.get(f"{APPS}/{app['id']}/configurations").status_code == 200
        assert time.monotonic() - started < 2
        results = [future.result(timeout=10) for future in waiting]
    assert all([c["id"] for c in r.json()] == [app["id"]] for r in results)


@pytest.fixture(params=["two instances", "two workers"])
def instances(request, database_url) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two service instances on one database, each with its own read model and listener; or
    one service of two workers, a client on each."""
    with two_clients(request.param, database_url) as clients:
        yield clients


def test_a_change_on_one_instance_wakes_the_waiters_on_the_other(instances, unique):
    one, two = instances
    after = latest(two)
    with ThreadPoolExecutor(8) as pool:
        waiting = [pool.submit(two.get, CHANGES, params={"after": after, "wait": 30}) for _ in range(8)]
        time.sleep(0.5)
        written = time.monotonic()
        app = one.post(APPS, json={"name": unique()}).json()
        results = [future.result(timeout=5) for future in waiting]
        woken = time.monotonic() - written
    assert all([c["id"] for c in r.json()] == [app["id"]] for r in results)
    assert woken < 1


def test_a_follower_of_the_feed_sees_increasing_revisions_and_every_acknowledged_change(instances, unique):
    """Writers on two instances at once; a follower long-polls the feed of one of them."""
    one, two = instances
    app = one.post(APPS, json={"name": unique("app")}).json()
    start = latest(one)
    stop = threading.Event()
    seen: list[dict] = []

    def follow() -> None:
        after = start
        while True:
            done = stop.is_set()
            page = two.get(CHANGES, params={"after": after, "limit": 1000, "wait": 1}).json()
            seen.extend(page)
            if page:
                after = page[-1]["revision"]
            elif done:
                return

    def write(client: TestClient, n: int) -> list[str]:
        acknowledged = []
        for i in range(15):
            body = {"application_id": app["id"], "name": f"{n}-{i}-{unique()}", "config": {"i": i}}
            response = client.post(CONFIGS, json=body)
            assert response.status_code == 201
            acknowledged.append(response.json()["id"])
        return acknowledged

    follower = threading.Thread(target=follow)
    follower.start()
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(write, (one, two)[n % 2], n) for n in range(8)]
        acknowledged = {id for future in futures for id in future.result()}
    stop.set()
    follower.join(timeout=30)

    revisions = [c["revision"] for c in seen]
    assert revisions == sorted(set(revisions))  # strictly increasing, no repeats
    assert acknowledged <= {c["id"] for c in seen}
    assert len(acknowledged) == 8 * 15


def test_a_page_holds_100_changes_unless_limit_says_otherwise(client, unique):
    start = latest(client)
    app = client.post(APPS, json={"name": unique("app")}).json()
    for n in range(101):
        client.put(f"{APPS}/{app['id']}", json={"name": app["name"], "comments": str(n)})
    assert len(client.get(CHANGES, params={"after": start}).json()) == 100
    assert len(client.get(CHANGES, params={"after": start, "limit": 101}).json()) == 101


def test_a_refused_write_leaves_no_entry_in_the_feed(client, unique):
    """No entry without its change: a write that fails (a taken name, a stale If-Match, an
    application that still has configurations) is in the feed no more than in the data."""
    app = client.post(APPS, json={"name": unique("app")}).json()
    other = client.post(APPS, json={"name": unique("other")}).json()
    client.post(CONFIGS, json={"application_id": app["id"], "name": "c", "config": {}})
    start = latest(client)

    refused = [
        client.post(APPS, json={"name": app["name"]}),
        client.put(f"{APPS}/{other['id']}", json={"name": app["name"]}),
        client.post(CONFIGS, json={"application_id": app["id"], "name": "c", "config": {}}),
        client.put(f"{APPS}/{app['id']}", json={"name": "x"}, headers={"If-Match": '"1-000000000000"'}),
        client.delete(f"{APPS}/{app['id']}"),
    ]
    assert [r.status_code for r in refused] == [409, 409, 409, 412, 409]
    assert client.get(CHANGES, params={"after": start}).json() == []
