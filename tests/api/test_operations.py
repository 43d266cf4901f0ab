"""GET /metrics, /health/live and /health/ready, in one process (tests/reliability has them
with workers and with the database away)."""

import re
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.test_access_control import bearer, make_token
from tests.support import app_settings

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def sample(text: str, name: str, **labels: str) -> float:
    """A sample's value in the exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def secured(database_url) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(database_url, auth="tokens"))) as client:
        yield client


def test_metrics_need_a_read_token_with_tokens(secured, db):
    assert secured.get("/metrics").status_code == 401
    response = secured.get("/metrics", headers=bearer(make_token(db, secured, "read")))
    assert response.status_code == 200
    assert "# TYPE config_service_http_requests_total counter" in response.text


def test_requests_are_counted_by_route_template_method_and_status(client, unique):
    app = client.post(APPS, json={"name": unique("app")}).json()
    config = client.post(CONFIGS, json={"application_id": app["id"], "name": unique(), "config": {}}).json()
    route = "/api/v1/configurations/{id}"
    before = client.get("/metrics").text
    for _ in range(7):
        assert client.get(f"{CONFIGS}/{config['id']}").status_code == 200
    client.get(f"{CONFIGS}/01ARZ3NDEKTSV4RRFFQ69G5FAV")  # 404
    after = client.get("/metrics").text
    counted = "config_service_http_requests_total"
    assert (
        sample(after, counted, route=route, method="GET", status="200")
        - sample(before, counted, route=route, method="GET", status="200")
        == 7
    )
    assert (
        sample(after, counted, route=route, method="GET", status="404")
        - sample(before, counted, route=route, method="GET", status="404")
        == 1
    )
    timed = "config_service_http_request_duration_seconds_count"
    assert sample(after, timed, route=route, method="GET") - sample(before, timed, route=route, method="GET") == 8
    # By name too: the template, never the names themselves.
    client.get(f"/api/v1/config/{quote(app['name'], safe='')}/{quote(config['name'], safe='')}")
    text = client.get("/metrics").text
    assert sample(text, counted, route="/api/v1/config/{application_name}/{configuration_name}", status="200") >= 1
    assert app["name"] not in text


def test_the_gauges_show_the_read_model_the_listener_and_held_watches(database_url, unique):
    with TestClient(create_app(app_settings(database_url))) as client:
        app = client.post(APPS, json={"name": unique("app")}).json()
        config = client.post(CONFIGS, json={"application_id": app["id"], "name": "w", "config": {}}).json()
        path = f"/api/v1/config/{quote(app['name'], safe='')}/w"
        etag = client.get(path).headers["etag"]
        held = threading.Thread(target=lambda: client.get(f"{path}?wait=10", headers={"If-None-Match": etag}))
        held.start()
        time.sleep(0.5)
        text = client.get("/metrics").text
        assert sample(text, "config_service_held_watches") >= 1
        assert sample(text, "config_service_read_model_state", state="live") == 1
        assert sample(text, "config_service_read_model_views") >= 1
        assert sample(text, "config_service_database_up") == 1
        assert sample(text, "config_service_database_revision") > 0
        assert sample(text, "config_service_write_batch_size_count") >= 2
        assert "config_service_db_queue_wait_seconds_bucket" in text
        client.put(f"{CONFIGS}/{config['id']}", json={"name": "w", "config": {"v": 1}})
        held.join(5)
        assert sample(client.get("/metrics").text, "config_service_listener_lag_revisions") >= 0


def test_refused_token_checks_are_counted_by_reason(secured, db):
    before = secured.get("/metrics", headers=bearer(make_token(db, secured, "read"))).text
    secured.get(f"{APPS}")  # no token
    secured.get(f"{APPS}", headers=bearer("cfs_unknown"))
    reader = make_token(db, secured, "read")
    secured.post(APPS, json={"name": "x"}, headers=bearer(reader))  # a write with a read token: 403
    after = secured.get("/metrics", headers=bearer(reader)).text
    refused = "config_service_auth_refused_total"
    for reason in ("missing", "unknown", "scope"):
        assert sample(after, refused, reason=reason) - sample(before, refused, reason=reason) >= 1, reason


def test_metrics_are_public_only_when_asked(database_url):
    with TestClient(create_app(app_settings(database_url, auth="tokens", metrics_public=True))) as client:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        spec = client.get("/openapi.json").json()
        assert "security" not in spec["paths"]["/metrics"]["get"]


def test_live_and_ready_answer_without_a_token_and_say_why(secured):
    assert secured.get("/health/live").json() == {"status": "ok"}
    ready = secured.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["read_model"] == "live"
