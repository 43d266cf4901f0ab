"""Every /api answer tells caches not to keep it and browsers not to guess its type: reads, the
client path's shortcut, writes, and errors answered before any route."""

import pytest

NO_STORE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


def api_headers(response) -> dict:
    return {name: response.headers.get(name) for name in NO_STORE}


@pytest.fixture
def configuration(client, unique) -> dict:
    application = client.post("/api/v1/applications", json={"name": unique("headers")})
    assert application.status_code == 201, application.text
    body = {"application_id": application.json()["id"], "name": "production", "config": {"pool": 5}}
    created = client.post("/api/v1/configurations", json=body)
    assert created.status_code == 201, created.text
    return {**created.json(), "application": application.json()}


def test_reads_by_id_by_name_and_lists_are_not_stored_or_sniffed(client, configuration):
    for path in (
        f"/api/v1/configurations/{configuration['id']}",
        f"/api/v1/config/{configuration['application']['name']}/production",
        f"/api/v1/config/{configuration['application']['name']}",
        "/api/v1/applications?limit=1",
        "/api/v1/changes?limit=1",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert api_headers(response) == NO_STORE, path


def test_a_not_modified_answer_carries_them_too(client, configuration):
    path = f"/api/v1/configurations/{configuration['id']}"
    etag = client.get(path).headers["etag"]
    response = client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert api_headers(response) == NO_STORE


def test_writes_and_their_errors_are_not_stored_or_sniffed(client, configuration, unique):
    created = client.post("/api/v1/applications", json={"name": unique("headers")})
    assert created.status_code == 201 and api_headers(created) == NO_STORE
    duplicate = client.post("/api/v1/applications", json={"name": configuration["application"]["name"]})
    assert duplicate.status_code == 409 and api_headers(duplicate) == NO_STORE
    missing = client.get("/api/v1/configurations/01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4")
    assert missing.status_code == 404 and api_headers(missing) == NO_STORE


def test_errors_answered_before_any_route_carry_them(client):
    not_json = client.post("/api/v1/applications", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415 and api_headers(not_json) == NO_STORE
    unknown = client.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and api_headers(unknown) == NO_STORE


def test_answers_outside_the_api_keep_their_own_caching(client):
    assert client.get("/health").headers.get("cache-control") != "no-store"
    # The console revalidates its files (no-cache) rather than never keeping them.
    assert client.get("/ui/").headers["cache-control"] == "no-cache"
