"""/api/v1/config over HTTP: configuration by name, an application's bundle, ETag/304, and
long-poll watches, on one instance and across two."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest

from tests.support import two_clients

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def segment(name: str) -> str:
    """A name as one path segment. Dots alone would be taken by clients as '.' or '..' (RFC
    3986 dot segments) and removed: they travel encoded too."""
    encoded = quote(name, safe="")
    return encoded.replace(".", "%2E") if set(name) == {"."} else encoded


def by_name(application: str, name: str | None = None) -> str:
    url = f"/api/v1/config/{segment(application)}"
    return url if name is None else f"{url}/{segment(name)}"


def make_app(client, name: str) -> dict:
    response = client.post(APPS, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def make_config(client, app: dict, name: str, config: dict | None = None) -> dict:
    body = {"application_id": app["id"], "name": name, "config": config or {}}
    response = client.post(CONFIGS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def app(client, unique) -> dict:
    return make_app(client, unique("shop"))


def test_a_configuration_by_name_is_its_view_with_the_same_etag(client, app):
    config = make_config(client, app, "production", {"pool": 20})

    response = client.get(by_name(app["name"], "production"))

    assert response.status_code == 200
    assert response.json() == config and response.json()["version"] == 1
    by_id = client.get(f"{CONFIGS}/{config['id']}")
    assert response.content == by_id.content
    assert response.headers["etag"] == by_id.headers["etag"]
    assert "x-config-stale" not in response.headers


@pytest.mark.parametrize(
    "name",
    [
        "with/slash",
        "a/b/c",
        "per%cent",
        "%2F",
        "question?mark",
        "hash#tag",
        "with space",
        "naïve café 設定",
        "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4",
        "versions",
        "..",
        "+plus&amp=",
    ],
)
def test_every_name_that_can_be_created_can_be_read(client, unique, name):
    app = make_app(client, f"{name}-{unique()}")
    config = make_config(client, app, name, {"name": name})

    assert client.get(by_name(app["name"], name)).json() == config
    bundle = client.get(by_name(app["name"])).json()
    assert [c["name"] for c in bundle["configurations"]] == [name]


def test_the_bundle_has_the_application_and_its_configurations_by_name(client, app):
    made = {name: make_config(client, app, name, {"n": name}) for name in ("staging", "b", "production", "a")}

    response = client.get(by_name(app["name"]))

    assert response.status_code == 200
    body = response.json()
    assert body["application"] == {key: app[key] for key in ("id", "name", "comments", "version")}
    assert body["configurations"] == [made[name] for name in sorted(made)]


def test_a_missing_application_or_configuration_is_404_saying_which(client, app, unique):
    missing_app = client.get(by_name(unique("nope"), "production"))
    assert missing_app.status_code == 404
    assert "application" in missing_app.json()["message"] and "does not exist" in missing_app.json()["message"]
    assert client.get(by_name(unique("nope"))).status_code == 404

    missing_config = client.get(by_name(app["name"], "nope"))
    assert missing_config.status_code == 404
    assert missing_config.json()["message"] == f"application {app['name']!r} has no configuration named 'nope'"
    assert missing_config.json()["code"] == "not_found"


def test_a_read_after_a_write_sees_it_by_name(client, app, unique):
    config = make_config(client, app, "c", {"v": 1})
    assert client.get(by_name(app["name"], "c")).json()["config"] == {"v": 1}
    bundle_tag = client.get(by_name(app["name"])).headers["etag"]

    renamed = unique("renamed")
    client.put(f"{CONFIGS}/{config['id']}", json={"name": renamed, "config": {"v": 2}})
    assert client.get(by_name(app["name"], "c")).status_code == 404
    assert client.get(by_name(app["name"], renamed)).json()["config"] == {"v": 2}
    assert client.get(by_name(app["name"])).headers["etag"] != bundle_tag

    new_app_name = unique("moved")
    client.put(f"{APPS}/{app['id']}", json={"name": new_app_name})
    assert client.get(by_name(app["name"], renamed)).status_code == 404
    assert client.get(by_name(new_app_name, renamed)).status_code == 200

    client.delete(f"{CONFIGS}/{config['id']}")
    assert client.get(by_name(new_app_name, renamed)).status_code == 404
    assert client.get(by_name(new_app_name)).json()["configurations"] == []


def test_the_etag_changes_with_the_body_and_only_then_and_304_sends_no_body(client, app):
    make_config(client, app, "one", {"v": 1})
    other = make_config(client, app, "two", {"v": 1})
    one_tag = client.get(by_name(app["name"], "one")).headers["etag"]
    bundle_tag = client.get(by_name(app["name"])).headers["etag"]
    assert client.get(by_name(app["name"])).headers["etag"] == bundle_tag

    for url, tag in ((by_name(app["name"], "one"), one_tag), (by_name(app["name"]), bundle_tag)):
        response = client.get(url, headers={"If-None-Match": tag})
        assert response.status_code == 304 and response.content == b""
        assert response.headers["etag"] == tag

    client.put(f"{CONFIGS}/{other['id']}", json={"name": "two", "config": {"v": 2}})
    assert client.get(by_name(app["name"], "one")).headers["etag"] == one_tag
    assert client.get(by_name(app["name"]), headers={"If-None-Match": bundle_tag}).status_code == 200


@pytest.mark.parametrize("wait", ["0", "61", "0.5", "abc", "", "nan", "inf"])
def test_wait_outside_1_to_60_seconds_is_422(client, app, wait):
    make_config(client, app, "c")
    response = client.get(by_name(app["name"], "c"), params={"wait": wait})
    assert response.status_code == 422
    assert response.json()["details"][0]["location"] == "query.wait"


def test_a_watch_answers_at_once_when_the_etag_is_not_current(client, app):
    make_config(client, app, "c", {"v": 1})
    started = time.monotonic()
    response = client.get(by_name(app["name"], "c"), params={"wait": 30}, headers={"If-None-Match": '"0"'})
    assert response.status_code == 200 and time.monotonic() - started < 2


def test_a_watch_ends_with_304_when_its_time_passes(client, app):
    make_config(client, app, "c", {"v": 1})
    tag = client.get(by_name(app["name"], "c")).headers["etag"]
    started = time.monotonic()
    response = client.get(by_name(app["name"], "c"), params={"wait": 1}, headers={"If-None-Match": tag})
    assert response.status_code == 304 and response.headers["etag"] == tag
    assert 0.9 < time.monotonic() - started < 3


def watch(client, url: str, tag: str, seconds: int = 30):
    return client.get(url, params={"wait": seconds}, headers={"If-None-Match": tag})


def test_a_watch_wakes_when_the_configuration_changes_or_is_deleted(client, app):
    config = make_config(client, app, "c", {"v": 1})
    url = by_name(app["name"], "c")
    tag = client.get(url).headers["etag"]
    bundle_tag = client.get(by_name(app["name"])).headers["etag"]

    with ThreadPoolExecutor(4) as pool:
        change, bundle = (
            pool.submit(watch, client, url, tag),
            pool.submit(watch, client, by_name(app["name"]), bundle_tag),
        )
        time.sleep(0.5)
        assert not change.done() and not bundle.done()
        written = time.monotonic()
        client.put(f"{CONFIGS}/{config['id']}", json={"name": "c", "config": {"v": 2}})
        assert change.result(timeout=5).json()["config"] == {"v": 2}
        assert bundle.result(timeout=5).json()["configurations"][0]["config"] == {"v": 2}
        assert time.monotonic() - written < 1

        tag = client.get(url).headers["etag"]
        deleted = pool.submit(watch, client, url, tag)
        time.sleep(0.5)
        client.delete(f"{CONFIGS}/{config['id']}")
        assert deleted.result(timeout=5).status_code == 404


@pytest.fixture(params=["two instances", "two workers"])
def instances(request, database_url) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two service instances on one database, each with its own read model and listener; or
    one service of two workers, a client on each."""
    with two_clients(request.param, database_url) as clients:
        yield clients


def test_a_change_on_one_instance_wakes_the_watchers_on_the_other(instances, unique):
    one, two = instances
    app = make_app(one, unique("shop"))
    config = make_config(one, app, "c", {"v": 1})
    url = by_name(app["name"], "c")
    deadline = time.monotonic() + 5
    while two.get(url).status_code != 200:  # the other instance has heard of it
        assert time.monotonic() < deadline
        time.sleep(0.02)
    tag = two.get(url).headers["etag"]

    with ThreadPoolExecutor(8) as pool:
        watchers = [pool.submit(watch, two, url, tag) for _ in range(8)]
        time.sleep(0.5)
        written = time.monotonic()
        one.put(f"{CONFIGS}/{config['id']}", json={"name": "c", "config": {"v": 2}})
        answers = [w.result(timeout=5) for w in watchers]
        woken = time.monotonic() - written
    assert all(a.status_code == 200 and a.json()["config"] == {"v": 2} for a in answers)
    assert woken < 1


def test_a_trailing_slash_and_unmatched_paths(client, app):
    make_config(client, app, "c")
    assert client.get(by_name(app["name"], "c") + "/").status_code == 200
    assert client.get(by_name(app["name"]) + "/").status_code == 200
    assert client.get("/api/v1/config/a/b/c").status_code == 404  # three names: no such route
    assert client.get("/api/v1/config/%FF%FE").status_code == 404  # no name is stored so
    # Nor with a NUL (PostgreSQL text cannot hold one): 404 before any read, even one that
    # would go to the database (while the read model loads or is stale).
    for path in ("/api/v1/config/a%00b", f"{by_name(app['name'])}/c%00"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert client.post(by_name(app["name"], "c"), json={}).status_code == 405


def test_held_watches_hold_no_database_connection_or_worker(client, app, unique):
    """Far more held watches than database workers, and reads and writes still go through."""
    config = make_config(client, app, "c", {"v": 1})
    url = by_name(app["name"], "c")
    current = {"If-None-Match": client.get(url).headers["etag"]}
    with ThreadPoolExecutor(40) as pool:
        watching = [pool.submit(client.get, url, params={"wait": 20}, headers=current) for _ in range(32)]
        time.sleep(0.5)
        started = time.monotonic()
        other = make_app(client, unique("other"))
        make_config(client, other, "x")
        assert client.get(f"{APPS}/{other['id']}/configurations").status_code == 200
        assert time.monotonic() - started < 2
        assert not any(w.done() for w in watching)
        client.put(f"{CONFIGS}/{config['id']}", json={"name": "c", "config": {"v": 2}})
        answers = [w.result(timeout=10) for w in watching]
    assert all(a.status_code == 200 and a.json()["config"] == {"v": 2} for a in answers)
