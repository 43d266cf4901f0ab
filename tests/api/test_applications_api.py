"""/api/v1/applications over HTTP."""

import re

from ulid import ULID

from infra.ids import ULID_PATTERN

API = "/api/v1/applications"


def create(client, name: str, comments: str | None = None) -> dict:
    response = client.post(API, json={"name": name, "comments": comments})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_is_201_with_the_full_representation_and_location(client, unique):
    name = unique()
    response = client.post(API, json={"name": name, "comments": "pays the bills"})

    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "name": name, "comments": "pays the bills"}
    assert re.match(ULID_PATTERN, body["id"])
    assert response.headers["location"] == f"{API}/{body['id']}"
    assert client.get(response.headers["location"]).json()["name"] == name


def test_comments_are_optional(client, unique):
    assert create(client, unique())["comments"] is None


def test_get_includes_configuration_ids_possibly_empty(client, unique):
    app = create(client, unique())
    assert client.get(f"{API}/{app['id']}").json() == {**app, "configuration_ids": []}

    config_ids = [
        client.post(
            "/api/v1/configurations", json={"application_id": app["id"], "name": unique(), "config": {}}
        ).json()["id"]
        for _ in range(3)
    ]
    assert client.get(f"{API}/{app['id']}").json()["configuration_ids"] == sorted(config_ids)


def test_lowercase_ulid_in_the_path_finds_the_application(client, unique):
    app = create(client, unique())
    assert client.get(f"{API}/{app['id'].lower()}").json()["id"] == app["id"]


def test_put_replaces_name_and_comments(client, unique):
    app = create(client, unique(), "old")
    new_name = unique("renamed")

    response = client.put(f"{API}/{app['id']}", json={"name": new_name})

    assert response.status_code == 200
    assert response.json() == {"id": app["id"], "name": new_name, "comments": None}
    assert client.get(f"{API}/{app['id']}").json()["name"] == new_name


def test_put_keeping_the_same_name_is_allowed(client, unique):
    app = create(client, unique())
    response = client.put(f"{API}/{app['id']}", json={"name": app["name"], "comments": "now with comments"})
    assert response.status_code == 200
    assert response.json()["comments"] == "now with comments"


def test_unknown_application_is_404_for_get_and_put(client, unique):
    missing = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"
    assert client.get(f"{API}/{missing}").status_code == 404
    response = client.put(f"{API}/{missing}", json={"name": unique()})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_duplicate_application_name_is_409(client, unique):
    name = unique()
    create(client, name)
    response = client.post(API, json={"name": name})
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_rename_to_a_taken_name_is_409(client, unique):
    taken = create(client, unique())
    mine = create(client, unique())
    response = client.put(f"{API}/{mine['id']}", json={"name": taken["name"]})
    assert response.status_code == 409
    assert client.get(f"{API}/{mine['id']}").json()["name"] == mine["name"]


def test_list_is_an_id_ordered_array_with_a_next_link_while_more_remain(client, unique):
    mine = [create(client, unique("listed"))["id"] for _ in range(5)]

    seen, url = [], f"{API}?limit=2"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.json()
        assert isinstance(page, list) and len(page) <= 2
        seen += [item["id"] for item in page]
        link = response.headers.get("link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None

    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(mine) <= set(seen)


def test_list_items_are_summaries(client, unique):
    app = create(client, unique(), "c")
    just_before = str(ULID.from_int(int(ULID.from_str(app["id"])) - 1))
    page = client.get(API, params={"limit": 1, "after": just_before}).json()
    assert page == [{"id": app["id"], "name": app["name"], "comments": "c"}]


def test_list_default_page_is_100_and_limit_is_bounded(client, unique):
    for _ in range(101 - len(client.get(API, params={"limit": 101}).json())):
        create(client, unique("filler"))
    assert len(client.get(API).json()) == 100
    assert "link" in client.get(API).headers
    for bad in ("0", "1001", "ten"):
        assert client.get(API, params={"limit": bad}).status_code == 422


def test_list_after_must_be_a_ulid(client):
    response = client.get(API, params={"after": "not-a-ulid"})
    assert response.status_code == 422
    assert response.json()["details"][0]["location"] == "query.after"
