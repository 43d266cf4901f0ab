"""/configurations/{id}/versions over HTTP: the history, one version, and restore."""

import re

import pytest

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


@pytest.fixture
def app(client, unique) -> dict:
    return client.post(APPS, json={"name": unique("app")}).json()


@pytest.fixture
def config(client, app, unique) -> dict:
    """A configuration with five versions: config {"v": 1} ... {"v": 5}."""
    created = client.post(
        CONFIGS, json={"application_id": app["id"], "name": unique(), "comments": "first", "config": {"v": 1}}
    ).json()
    for v in range(2, 6):
        client.put(f"{CONFIGS}/{created['id']}", json={"name": created["name"], "config": {"v": v}})
    return created


def walk(client, url: str) -> list[dict]:
    items = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        items += response.json()
        link = response.headers.get("link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
    return items


def test_versions_are_listed_newest_first_with_every_field(client, config):
    versions = client.get(f"{CONFIGS}/{config['id']}/versions").json()

    assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
    assert versions[-1] == {
        "version": 1,
        "revision": versions[-1]["revision"],
        "name": config["name"],
        "comments": "first",
        "config": {"v": 1},
        "secrets": [],
        "created_at": config["created_at"],
        "actor": None,
    }
    assert [v["revision"] for v in versions] == sorted((v["revision"] for v in versions), reverse=True)
    assert versions[0]["comments"] is None  # each PUT replaced the comments


def test_versions_page_with_a_link_like_the_application_list(client, config):
    versions = walk(client, f"{CONFIGS}/{config['id']}/versions?limit=2")
    assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
    offset = client.get(f"{CONFIGS}/{config['id']}/versions", params={"limit": 2, "offset": 2}).json()
    assert [v["version"] for v in offset] == [3, 2]
    for bad in ({"limit": 0}, {"limit": 1001}, {"after": "x"}, {"after": 3, "offset": 1}):
        assert client.get(f"{CONFIGS}/{config['id']}/versions", params=bad).status_code == 422, bad


def test_one_version_and_missing_ones(client, config):
    response = client.get(f"{CONFIGS}/{config['id']}/versions/3")
    assert response.status_code == 200
    assert (response.json()["version"], response.json()["config"]) == (3, {"v": 3})

    for version in ("6", "0", "-1", "99999999999"):
        missing = client.get(f"{CONFIGS}/{config['id']}/versions/{version}")
        assert missing.status_code == 404, version
        assert missing.json()["code"] == "not_found"
    assert client.get(f"{CONFIGS}/{config['id']}/versions/three").status_code == 422
    assert client.get(f"{CONFIGS}/01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4/versions").status_code == 404


def test_restore_makes_a_version_current_again_as_a_new_version(client, config):
    response = client.post(f"{CONFIGS}/{config['id']}/versions/2/restore")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["version"], body["config"], body["comments"]) == (config["id"], 6, {"v": 2}, None)
    assert response.headers["etag"] == client.get(f"{CONFIGS}/{config['id']}").headers["etag"]
    assert client.get(f"{CONFIGS}/{config['id']}").json() == body
    history = client.get(f"{CONFIGS}/{config['id']}/versions").json()
    assert [v["version"] for v in history] == [6, 5, 4, 3, 2, 1]  # nothing rewritten
    assert history[0]["config"] == history[4]["config"] == {"v": 2}


def test_restore_of_a_missing_version_is_404(client, config):
    assert client.post(f"{CONFIGS}/{config['id']}/versions/9/restore").status_code == 404
    assert client.post(f"{CONFIGS}/01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4/versions/1/restore").status_code == 404


def test_history_survives_deletion_and_restore_brings_the_configuration_back(client, app, config):
    assert client.delete(f"{CONFIGS}/{config['id']}").status_code == 204
    assert client.get(f"{CONFIGS}/{config['id']}").status_code == 404
    assert len(client.get(f"{CONFIGS}/{config['id']}/versions").json()) == 5
    assert client.get(f"{CONFIGS}/{config['id']}/versions/5").status_code == 200

    response = client.post(f"{CONFIGS}/{config['id']}/versions/5/restore")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["version"]) == (config["id"], 6)
    assert client.get(f"{CONFIGS}/{config['id']}").json()["config"] == {"v": 5}
    assert config["id"] in client.get(f"{APPS}/{app['id']}").json()["configuration_ids"]


def test_restore_when_the_name_is_now_taken_is_409(client, app, config, unique):
    renamed = unique("renamed")
    client.put(f"{CONFIGS}/{config['id']}", json={"name": renamed, "config": {}})
    client.post(CONFIGS, json={"application_id": app["id"], "name": config["name"], "config": {}})

    response = client.post(f"{CONFIGS}/{config['id']}/versions/1/restore")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert client.get(f"{CONFIGS}/{config['id']}").json()["name"] == renamed
