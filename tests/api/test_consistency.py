"""The read model's guarantee, over HTTP: a write is seen at once on the instance that made
it, and within a second on every other instance; a dropped listener never leaves a stale view."""

import time
from collections.abc import Callable, Iterator

import httpx
import psycopg2
import pytest
from fastapi.testclient import TestClient

from infra.listener import LISTENER_APPLICATION_NAME
from tests.support import two_clients

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def wait_until(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until `predicate()` held; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - started


def live(client: TestClient) -> bool:
    return client.get("/health").json()["read_model"] == "live"


@pytest.fixture(params=["two instances", "two workers"])
def instances(request, database_url) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two service instances on one database, each with its own read model and listener; or
    one service of two workers, a client on each."""
    with two_clients(request.param, database_url) as clients:
        yield clients


@pytest.fixture
def config(instances, unique) -> dict:
    one, _ = instances
    app_id = one.post(APPS, json={"name": unique("app")}).json()["id"]
    return one.post(CONFIGS, json={"application_id": app_id, "name": unique(), "config": {"v": 1}}).json()


def put_config(client: TestClient, config: dict, value: int) -> None:
    body = {"name": config["name"], "config": {"v": value}}
    assert client.put(f"{CONFIGS}/{config['id']}", json=body).status_code == 200


def held(client: TestClient) -> int:
    return client.get("/health").json()["views_held"]


def test_a_read_after_a_write_on_the_same_instance_sees_the_write(instances, config):
    one, _ = instances
    assert one.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"v": 1}  # now held
    for value in range(2, 12):
        put_config(one, config, value)
        assert one.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"v": value}


def test_a_write_on_one_instance_is_seen_on_the_other_within_a_second(instances, config):
    one, two = instances
    url = f"{CONFIGS}/{config['id']}"
    assert two.get(url).json()["config"] == {"v": 1}  # held by instance two

    put_config(one, config, 2)
    elapsed = wait_until(lambda: two.get(url).json()["config"] == {"v": 2}, timeout=1)
    assert elapsed < 1


def test_a_new_configuration_shows_in_the_other_instances_application_view(instances, config, unique):
    one, two = instances
    app_url = f"{APPS}/{config['application_id']}"
    # Another instance shows changes as it hears of them (within a second), not before.
    wait_until(lambda: two.get(app_url).json()["configuration_ids"] == [config["id"]], timeout=1)

    body = {"application_id": config["application_id"], "name": unique(), "config": {}}
    new_id = one.post(CONFIGS, json=body).json()["id"]
    wait_until(lambda: new_id in two.get(app_url).json()["configuration_ids"], timeout=1)


def test_a_change_made_directly_in_the_database_reaches_every_instance(instances, config, database_url):
    one, two = instances
    url = f"{CONFIGS}/{config['id']}"
    assert one.get(url).json()["config"] == two.get(url).json()["config"] == {"v": 1}

    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE configurations SET config = '{\"v\": 7}' WHERE id = %s", (config["id"],))
    finally:
        conn.close()
    wait_until(lambda: one.get(url).json()["config"] == two.get(url).json()["config"] == {"v": 7}, timeout=1)


def test_after_the_listener_is_cut_off_the_gap_is_replayed_and_nothing_unchanged_is_dropped(
    instances, config, database_url, unique
):
    one, two = instances
    url = f"{CONFIGS}/{config['id']}"
    untouched = one.post(
        CONFIGS, json={"application_id": config["application_id"], "name": unique(), "config": {"u": 1}}
    ).json()
    wait_until(lambda: two.get(f"{CONFIGS}/{untouched['id']}").status_code == 200, timeout=1)
    assert two.get(url).json()["config"] == {"v": 1}
    held_before = held(two)

    # In one transaction: cut every listener off (waiting until each is gone), then change the
    # configuration. The announcement goes out at commit, when nobody listens: it is lost.
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (LISTENER_APPLICATION_NAME,),
            )
            assert cur.fetchone()[0]
            cur.execute("UPDATE configurations SET config = '{\"v\": 9}' WHERE id = %s", (config["id"],))
    finally:
        conn.close()

    # Whether the instance has noticed yet or not, it never serves the old view by id (while
    # not listening it reads the database); once listening again it has replayed the gap.
    wait_until(lambda: two.get(url).json()["config"] == {"v": 9}, timeout=5)
    wait_until(lambda: live(two), timeout=5)
    assert two.get(url).json()["config"] == {"v": 9}
    # Only what changed was dropped: the untouched configuration is still held.
    assert held(two) >= held_before - 3  # the changed configuration, its application's views
    assert two.get(f"{CONFIGS}/{untouched['id']}").json()["config"] == {"u": 1}
