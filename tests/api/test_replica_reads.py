"""An app with a read replica (DATABASE_REPLICA_URLS), against two PostgreSQL 16 servers, the
second streaming from the first (tests/streaming_replica.py): the bulk load, the resync after a
gap, history, the feed and the lists are read on the replica; a read right after a write shows
it while the replica lags; writes never reach the replica; a stopped replica changes nothing
but where reads go. Both servers log every statement with the application that sent it."""

import time
import uuid

import psycopg2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from commands.applications import CreateApplication
from infra import metrics
from infra.listener import LISTENER_APPLICATION_NAME
from infra.replicas import REPLICA_APPLICATION_NAME
from migrations import migrate
from tests.support import app_settings, database, perform

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def served(database: str, kind: str) -> float:
    return metrics.DATABASE_READS.labels(database, kind)._value.get()


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def urls(streaming_pair) -> tuple[str, str]:
    primary_url, standby_url = streaming_pair.database(f"replica_reads_{uuid.uuid4().hex[:8]}")
    migrate(primary_url)
    db = database(primary_url)
    try:  # a change before the app starts: the feed's tail held in memory starts after it
        perform(db, CreateApplication(f"app-{uuid.uuid4().hex[:12]}"))
    finally:
        db.close()
    streaming_pair.wait_for_replay()
    return primary_url, standby_url


@pytest.fixture(scope="module")
def snapshots_before() -> dict:
    return {database: served(database, "snapshot") for database in ("primary", "replica")}


@pytest.fixture(scope="module")
def client(urls, snapshots_before):
    settings = app_settings(urls[0], database_replica_urls=urls[1], replica_wait_ms=300, replica_max_lag_s=5)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def check(client):
    """The replica's background check, once it finds the replica in use."""
    check = client.app.state.services.sources.replicas.replicas[0].check
    wait_until(lambda: check.in_use)
    return check


@pytest.fixture
def config(client, check) -> dict:
    app = client.post(APPS, json={"name": f"app-{uuid.uuid4().hex[:12]}"}).json()
    made = client.post(CONFIGS, json={"application_id": app["id"], "name": "settings", "config": {"v": 1}})
    assert made.status_code == 201
    return {**made.json(), "revision": revision_of(made)}


def revision_of(response) -> int:
    return int(response.headers["etag"].strip('"'))  # a configuration's ETag is its latest revision


def test_the_bulk_load_at_start_was_read_on_the_replica(client, snapshots_before):
    assert served("replica", "snapshot") == snapshots_before["replica"] + 1
    assert served("primary", "snapshot") == snapshots_before["primary"]


def test_history_the_feed_and_lists_are_read_on_the_replica(client, config, streaming_pair):
    before = {kind: served("replica", kind) for kind in ("history", "feed", "list")}
    versions = client.get(f"{CONFIGS}/{config['id']}/versions")
    assert versions.status_code == 200 and [v["version"] for v in versions.json()] == [1]
    assert client.get(f"{CONFIGS}/{config['id']}/versions/1").json()["config"] == {"v": 1}
    changes = client.get("/api/v1/changes", params={"after": 0, "limit": 1000})  # older than the tail held
    assert config["revision"] in [change["revision"] for change in changes.json()]
    listed = client.get(f"{APPS}/{config['application_id']}/configurations")
    assert [c["id"] for c in listed.json()] == [config["id"]]
    assert client.get(f"{CONFIGS}/{config['id']}/rollouts").status_code == 200
    assert client.get(f"{CONFIGS}/{config['id']}/clients").status_code == 200

    assert served("replica", "history") == before["history"] + 2
    assert served("replica", "feed") == before["feed"] + 1
    assert served("replica", "list") == before["list"] + 3
    # The standby ran the history's reads (its own log says so), the primary did not.
    markers = ("FROM configuration_versions", f"configuration_id = '{config['id']}'")
    assert len(streaming_pair.statements(*markers, on_standby=True, application=REPLICA_APPLICATION_NAME)) == 2
    assert streaming_pair.statements(*markers, on_standby=False) == []


def test_a_read_right_after_a_write_shows_it_while_the_replica_lags(client, config, streaming_pair):
    streaming_pair.pause_replay()
    try:
        before = served("primary", "history")
        updated = client.put(f"{CONFIGS}/{config['id']}", json={"name": "renamed", "config": {"v": 2}})
        assert updated.status_code == 200
        versions = client.get(f"{CONFIGS}/{config['id']}/versions").json()
        assert [v["version"] for v in versions] == [2, 1]  # the replica has only version 1
        assert served("primary", "history") == before + 1
        listed = client.get(f"{APPS}/{config['application_id']}/configurations").json()
        assert [c["name"] for c in listed] == ["renamed"]
        changes = client.get("/api/v1/changes", params={"after": revision_of(updated) - 1}).json()
        assert [change["revision"] for change in changes][:1] == [revision_of(updated)]
    finally:
        streaming_pair.resume_replay()


def test_writes_never_reach_the_replica(client, config, streaming_pair):
    streaming_pair.pause_replay()  # a standby refuses writes anyway; this one does not even replay them
    try:
        url = f"{CONFIGS}/{config['id']}"
        etag = client.get(url).headers["etag"]
        body = {"name": "settings", "config": {"v": 2}}
        assert client.put(url, json=body, headers={"If-Match": etag}).status_code == 200
        assert client.put(url, json=body, headers={"If-Match": etag}).status_code == 412  # checked in the write
        assert client.delete(url).status_code == 204
    finally:
        streaming_pair.resume_replay()
    marker = f"'{config['id']}'"
    assert streaming_pair.statements("run_commands", marker, on_standby=False)
    assert streaming_pair.statements("run_commands", on_standby=True) == []


def test_a_stopped_replica_is_skipped_and_the_service_keeps_answering(client, config, streaming_pair, check):
    streaming_pair.stop_standby()
    try:
        url = f"{CONFIGS}/{config['id']}"
        assert client.put(url, json={"name": "settings", "config": {"v": 2}}).status_code == 200
        assert [v["version"] for v in client.get(f"{url}/versions").json()] == [2, 1]
        assert client.get(f"{APPS}/{config['application_id']}/configurations").status_code == 200
        assert client.get("/api/v1/changes", params={"after": 0}).status_code == 200
        wait_until(lambda: not check.in_use)
        assert f'config_service_replica_in_use{{replica="{check.name}"}} 0.0' in client.get("/metrics").text
        before = served("primary", "history")
        assert client.get(f"{url}/versions").status_code == 200
        assert served("primary", "history") == before + 1
    finally:
        streaming_pair.start_standby()
    wait_until(lambda: check.in_use)
    before = served("replica", "history")
    assert [v["version"] for v in client.get(f"{CONFIGS}/{config['id']}/versions").json()] == [2, 1]
    assert served("replica", "history") == before + 1


def test_the_resync_after_a_gap_is_read_on_the_replica(client, config, urls):
    reads = client.app.state.services.reads
    replicas = client.app.state.services.sources.replicas
    before = served("replica", "gap")
    replicas.wait = 10.0  # on a busy machine the replica may take longer than 300 ms to replay it
    conn = psycopg2.connect(urls[0])
    try:
        with conn, conn.cursor() as cur:  # the listener cut off, then a change it does not hear
            cur.execute(
                "SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (LISTENER_APPLICATION_NAME,),
            )
            assert cur.fetchone()[0]
            cur.execute("UPDATE configurations SET config = '{\"v\": 9}' WHERE id = %s", (config["id"],))
    finally:
        conn.close()
    try:
        wait_until(lambda: served("replica", "gap") == before + 1)
        wait_until(lambda: reads.state == "live")
    finally:
        replicas.wait = 0.3
    assert client.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"v": 9}


def test_the_metrics_show_the_replica_s_lag_and_who_served_reads(client, check):
    text = client.get("/metrics").text
    name = check.name
    assert f'config_service_replica_lag_seconds{{replica="{name}"}}' in text
    assert f'config_service_replica_lag_revisions{{replica="{name}"}}' in text
    assert f'config_service_replica_in_use{{replica="{name}"}} 1.0' in text
    assert 'config_service_database_reads_total{database="replica",kind="snapshot"}' in text
