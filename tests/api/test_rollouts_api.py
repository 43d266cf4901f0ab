"""Staged releases over HTTP: the live version, rollouts by step with the share of clients each
gets, pause, resume, promote, roll back, the feed's entries, and the fleet view."""

import time
import uuid
from collections.abc import Callable

import pytest

from queries.rollouts import bucket

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def wait_until(predicate: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"not within {timeout}s"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def staged(client, unique) -> dict:
    """A staged configuration with versions 1 (live) and 2."""
    app = client.post(APPS, json={"name": unique("app")}).json()
    created = client.post(
        CONFIGS, json={"application_id": app["id"], "name": "c", "config": {"v": 1}, "release": "staged"}
    ).json()
    changed = client.put(f"{CONFIGS}/{created['id']}", json={"name": "c", "config": {"v": 2}})
    assert changed.status_code == 200
    return {**changed.json(), "app_name": app["name"]}


def read(client, config: dict, client_id: str | None = None) -> dict:
    headers = {} if client_id is None else {"X-Client-Id": client_id}
    response = client.get(f"/api/v1/config/{config['app_name']}/c", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def start(client, config: dict, **body) -> dict:
    response = client.post(f"{CONFIGS}/{config['id']}/rollouts", json={"version": 2, **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_staged_change_makes_a_version_that_clients_do_not_get(client, staged):
    assert (staged["release"], staged["version"], staged["live_version"]) == ("staged", 2, 1)
    served = read(client, staged, "anyone")
    assert (served["version"], served["config"], served["live_version"]) == (1, {"v": 1}, 1)
    # A PUT that omits the release keeps it.
    again = client.put(f"{CONFIGS}/{staged['id']}", json={"name": "c", "config": {"v": 3}}).json()
    assert (again["release"], again["live_version"], again["version"]) == ("staged", 1, 3)
    # Back to immediate: the latest version is live.
    now = client.patch(
        f"{CONFIGS}/{staged['id']}",
        json={"release": "immediate"},
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert (now["release"], now["live_version"]) == ("immediate", now["version"])
    assert read(client, staged, "anyone")["config"] == {"v": 3}


def test_a_rollout_needs_a_staged_configuration_and_one_at_a_time(client, staged, unique):
    immediate = client.post(
        CONFIGS, json={"application_id": staged["application_id"], "name": unique(), "config": {}}
    ).json()
    refused = client.post(f"{CONFIGS}/{immediate['id']}/rollouts", json={"version": 1})
    assert refused.status_code == 409 and "staged" in refused.json()["message"]
    start(client, staged, step_seconds=600)
    second = client.post(f"{CONFIGS}/{staged['id']}/rollouts", json={"version": 2})
    assert second.status_code == 409 and "active rollout" in second.json()["message"]
    for bad in ({"version": 2, "steps": [50, 10, 100]}, {"version": 2, "steps": [10, 50]}, {"version": 99}):
        assert client.post(f"{CONFIGS}/{staged['id']}/rollouts", json=bad).status_code in (409, 422)


def test_a_rollout_of_a_version_the_schema_refuses_is_422_and_starts_nothing(client, staged):
    url = f"{CONFIGS}/{staged['id']}"
    assert client.put(url, json={"name": "c", "config": {"v": 3}}).status_code == 200  # the latest: {"v": 3}
    schema = {"properties": {"v": {"type": "integer", "minimum": 3}}}
    assert client.put(f"{url}/schema", json=schema).status_code == 200

    refused = client.post(f"{url}/rollouts", json={"version": 2})  # written before the schema: {"v": 2}
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["code"] == "schema_violation"
    assert [(d["location"], d["path"], d["keyword"]) for d in body["details"]] == [("config", "/v", "minimum")]
    assert client.get(f"{url}/rollouts").json() == []
    assert read(client, staged, "anyone")["version"] == 1

    assert client.post(f"{url}/rollouts", json={"version": 3, "step_seconds": 600}).status_code == 201


def test_at_ten_percent_about_a_tenth_of_the_clients_get_the_new_version_and_stay_as_it_grows(client, staged):
    rollout = start(client, staged, steps=[10, 50, 100], step_seconds=1)
    url = f"{CONFIGS}/{staged['id']}/rollouts/{rollout['id']}"
    assert (rollout["percent"], rollout["state"], rollout["from_version"], rollout["to_version"]) == (
        10,
        "running",
        1,
        2,
    )
    assert client.post(f"{url}/pause").json()["percent"] == 10  # held there while 1,000 clients read
    ids = [f"host-{n}" for n in range(1000)]
    first = {cid for cid in ids if read(client, staged, cid)["version"] == 2}
    assert 70 <= len(first) <= 130
    assert first == {cid for cid in ids if bucket(staged["id"], cid) < 10}  # the stable bucket decides
    assert read(client, staged)["version"] == 1  # a client without an id keeps the live version

    client.post(f"{url}/resume")
    wait_until(lambda: client.get(url).json()["percent"] == 50, 5)
    assert client.post(f"{url}/pause").json()["percent"] == 50
    half = {cid for cid in ids if read(client, staged, cid)["version"] == 2}
    assert first <= half and 400 <= len(half) <= 600  # nobody leaves the new version as the share grows

    client.post(f"{url}/resume")
    wait_until(lambda: client.get(url).json()["state"] == "completed", 5)
    assert client.get(f"{CONFIGS}/{staged['id']}").json()["live_version"] == 2
    assert read(client, staged)["version"] == 2  # everyone, with an id or not


def test_pause_holds_a_step_past_its_time_and_resume_starts_the_clock_again(client, staged):
    rollout = start(client, staged, step_seconds=1)
    url = f"{CONFIGS}/{staged['id']}/rollouts/{rollout['id']}"
    paused = client.post(f"{url}/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert client.post(f"{url}/pause").status_code == 409
    time.sleep(2.5)
    assert client.get(url).json()["percent"] == 10
    resumed = client.post(f"{url}/resume").json()
    assert resumed["state"] == "running" and resumed["next_step_at"] is not None
    wait_until(lambda: client.get(url).json()["percent"] == 50, 5)


def test_promote_makes_the_version_live_for_everyone_at_once(client, staged):
    rollout = start(client, staged, step_seconds=600)
    promoted = client.post(f"{CONFIGS}/{staged['id']}/rollouts/{rollout['id']}/promote").json()
    assert (promoted["state"], promoted["percent"]) == ("completed", 100)
    assert client.get(f"{CONFIGS}/{staged['id']}").json()["live_version"] == 2
    assert {read(client, staged, f"h-{n}")["version"] for n in range(50)} == {2}
    assert client.post(f"{CONFIGS}/{staged['id']}/rollouts/{rollout['id']}/rollback").status_code == 409


def test_a_failure_report_of_the_new_version_rolls_it_back(client, staged):
    rollout = start(client, staged, step_seconds=600, max_failures=1)
    canary = next(f"c-{n}" for n in range(1000) if bucket(staged["id"], f"c-{n}") < 10)
    report = f"/api/v1/config/{staged['app_name']}/c/reports"
    ok = client.post(report, json={"client_id": canary, "version": 2, "ok": True})
    assert ok.status_code == 202
    for _ in range(2):  # the same client counts once
        client.post(report, json={"client_id": canary, "version": 2, "ok": False, "message": "bad pool size"})
    url = f"{CONFIGS}/{staged['id']}/rollouts/{rollout['id']}"
    assert (client.get(url).json()["state"], client.get(url).json()["failures"]) == ("running", 1)
    other = next(f"d-{n}" for n in range(1000) if bucket(staged["id"], f"d-{n}") < 10)
    client.post(report, json={"client_id": other, "version": 2, "ok": False, "message": "cannot parse"})
    ended = client.get(url).json()
    assert ended["state"] == "rolled_back" and "2 clients" in ended["reason"] and ended["ended_at"]
    assert read(client, staged, canary)["version"] == 1
    assert client.get(f"{CONFIGS}/{staged['id']}").json()["live_version"] == 1


def test_every_rollout_event_is_in_the_feed(client, staged):
    revision = client.get(f"{CONFIGS}/{staged['id']}/versions?limit=1").json()[0]["revision"]
    first = start(client, staged, step_seconds=600)
    base = f"{CONFIGS}/{staged['id']}/rollouts/{first['id']}"
    client.post(f"{base}/pause")
    client.post(f"{base}/resume")
    client.post(f"{base}/rollback")
    second = start(client, staged, step_seconds=600)
    client.post(f"{CONFIGS}/{staged['id']}/rollouts/{second['id']}/promote")
    entries = [
        c
        for c in client.get("/api/v1/changes", params={"after": revision, "limit": 1000}).json()
        if c["kind"] == "rollout" and c["configuration_id"] == staged["id"]
    ]
    assert [(e["action"], e["id"], e["percent"]) for e in entries] == [
        ("started", first["id"], 10),
        ("paused", first["id"], 10),
        ("resumed", first["id"], 10),
        ("rolled_back", first["id"], 0),
        ("started", second["id"], 10),
        ("promoted", second["id"], 100),
        ("completed", second["id"], 100),
    ]
    assert all(e["application_id"] == staged["application_id"] and e["version"] == 2 for e in entries)
    assert entries[3]["reason"] and entries[-1]["reason"]


def test_listed_newest_first(client, staged):
    first = start(client, staged, step_seconds=600)
    client.post(f"{CONFIGS}/{staged['id']}/rollouts/{first['id']}/rollback")
    second = start(client, staged, step_seconds=600)
    listed = client.get(f"{CONFIGS}/{staged['id']}/rollouts").json()
    assert [r["id"] for r in listed] == [second["id"], first["id"]]


def test_the_fleet_view_lists_each_client_with_its_version_and_last_report(client, staged):
    rollout = start(client, staged, step_seconds=600)
    ids = [f"fleet-{uuid.uuid4().hex[:6]}-{n}" for n in range(200)]
    expected = {cid: read(client, staged, cid)["version"] for cid in ids}
    client.post(f"/api/v1/config/{staged['app_name']}/c/reports", json={"client_id": ids[0], "version": 1, "ok": True})
    url = f"{CONFIGS}/{staged['id']}/clients"
    wait_until(lambda: sum(client.get(url, params={"limit": 1000}).json()["versions"].values()) == 200, 5)
    view = client.get(url, params={"limit": 1000}).json()
    assert {c["client_id"]: c["version"] for c in view["clients"]} == expected
    counts = {str(v): list(expected.values()).count(v) for v in set(expected.values())}
    assert view["versions"] == counts
    reported = next(c for c in view["clients"] if c["client_id"] == ids[0])
    assert reported["last_report"]["ok"] is True and reported["via_instance"]
    page = client.get(url, params={"limit": 50})
    assert len(page.json()["clients"]) == 50 and 'rel="next"' in page.headers["link"]
    by_app = client.get(f"{APPS}/{staged['application_id']}/clients").json()["configurations"]
    assert [c["configuration_id"] for c in by_app] == [staged["id"]]
    assert rollout


def test_a_client_id_must_be_visible_ascii(client, staged):
    url = f"/api/v1/config/{staged['app_name']}/c"
    # (Non-ASCII bytes are refused by the same rule; the test client cannot send them.)
    for bad in ("", "with space", "x" * 129, "tab\there"):
        response = client.get(url, headers={"X-Client-Id": bad})
        assert response.status_code == 422, bad
        assert response.json()["details"][0]["location"] == "header.X-Client-Id"
    assert client.get(url, headers={"X-Client-Id": "x" * 128}).status_code == 200
