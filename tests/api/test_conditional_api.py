"""ETags, If-None-Match and If-Match over HTTP: a strong tag that changes with the body and
only then; 304 for a current copy; 412, with nothing changed, for a stale one."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


@pytest.fixture
def app(client, unique) -> dict:
    return client.post(APPS, json={"name": unique("app")}).json()


@pytest.fixture
def config(client, app, unique) -> dict:
    response = client.post(CONFIGS, json={"application_id": app["id"], "name": unique(), "config": {"n": 0}})
    return {**response.json(), "etag": response.headers["etag"]}


def etag(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    tag = response.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')  # strong
    return tag


def test_the_etag_changes_when_the_body_changes_and_only_then(client, app, config, unique):
    config_url, app_url = f"{CONFIGS}/{config['id']}", f"{APPS}/{app['id']}"
    assert etag(client, config_url) == etag(client, config_url) == config["etag"]
    app_tag = etag(client, app_url)

    # Another configuration of the application: the application's body (its ids) changes,
    # this configuration's does not.
    client.post(CONFIGS, json={"application_id": app["id"], "name": unique(), "config": {}})
    assert etag(client, config_url) == config["etag"]
    assert etag(client, app_url) != app_tag

    app_tag = etag(client, app_url)
    response = client.put(config_url, json={"name": config["name"], "config": {"n": 1}})
    assert response.headers["etag"] == etag(client, config_url) != config["etag"]
    assert etag(client, app_url) == app_tag

    response = client.put(app_url, json={"name": app["name"], "comments": "changed"})
    assert response.headers["etag"] == etag(client, app_url) != app_tag


@pytest.mark.parametrize("path", ["config", "app", "versions", "version"])
def test_if_none_match_with_the_current_etag_is_304_without_a_body(client, app, config, path):
    url = {
        "config": f"{CONFIGS}/{config['id']}",
        "app": f"{APPS}/{app['id']}",
        "versions": f"{CONFIGS}/{config['id']}/versions",
        "version": f"{CONFIGS}/{config['id']}/versions/1",
    }[path]
    current = etag(client, url)

    for header in (current, f'"stale", {current}', f"W/{current}", "*"):
        response = client.get(url, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == current
    assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_a_stale_if_match_is_412_and_changes_nothing(client, app, config):
    url = f"{CONFIGS}/{config['id']}"
    client.put(url, json={"name": config["name"], "config": {"n": 1}})  # now config["etag"] is stale
    before = client.get(url).json()
    stale = {"If-Match": config["etag"]}

    for response in (
        client.put(url, json={"name": "x", "config": {}}, headers=stale),
        client.patch(url, json={"config": {"n": 2}}, headers={**stale, "Content-Type": "application/merge-patch+json"}),
        client.delete(url, headers=stale),
        client.post(f"{url}/versions/1/restore", headers=stale),
        client.put(f"{APPS}/{app['id']}", json={"name": "x"}, headers={"If-Match": '"1-000000000000"'}),
        client.patch(
            f"{APPS}/{app['id']}",
            json={"name": "x"},
            headers={"If-Match": '"1-000000000000"', "Content-Type": "application/merge-patch+json"},
        ),
        client.delete(f"{APPS}/{app['id']}", headers={"If-Match": '"1-000000000000"'}),
    ):
        assert response.status_code == 412, response.text
        assert response.json()["code"] == "precondition_failed"
    assert client.get(url).json() == before
    assert client.get(f"{APPS}/{app['id']}").json()["name"] == app["name"]


def test_a_current_if_match_or_a_star_applies(client, app, config):
    url = f"{CONFIGS}/{config['id']}"
    current = config["etag"]
    for make_header in (lambda tag: tag, lambda tag: f'"other", {tag}', lambda tag: "*"):
        header = make_header(current)
        response = client.put(url, json={"name": config["name"], "config": {"h": header}}, headers={"If-Match": header})
        assert response.status_code == 200, header
        current = response.headers["etag"]

    weak = client.put(url, json={"name": config["name"], "config": {}}, headers={"If-Match": "W/" + current})
    assert weak.status_code == 412  # If-Match compares strongly: a weak tag never matches
    app_url = f"{APPS}/{app['id']}"
    response = client.put(app_url, json={"name": app["name"]}, headers={"If-Match": etag(client, app_url)})
    assert response.status_code == 200


def test_if_match_on_a_missing_resource_is_404(client):
    missing = f"{CONFIGS}/01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"
    assert client.put(missing, json={"name": "x", "config": {}}, headers={"If-Match": "*"}).status_code == 404


def test_of_32_concurrent_puts_with_the_same_etag_exactly_one_wins(client, config):
    url = f"{CONFIGS}/{config['id']}"
    barrier = threading.Barrier(32)

    def put(n: int) -> int:
        barrier.wait()
        body = {"name": config["name"], "config": {"writer": n}}
        return client.put(url, json=body, headers={"If-Match": config["etag"]}).status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = sorted(pool.map(put, range(32)))

    assert statuses == [200] + [412] * 31
    current = client.get(url).json()
    assert current["version"] == 2
    versions = client.get(f"{url}/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["config"] == current["config"]
