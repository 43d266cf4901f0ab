"""/api/v1/applications over HTTP."""

import re

import pytest
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
    assert body == {
        "id": body["id"],
        "name": name,
        "comments": "pays the bills",
        "version": 1,
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["created_at"])
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
    body = response.json()
    assert body == {**app, "name": new_name, "comments": None, "version": 2, "updated_at": body["updated_at"]}
    assert body["updated_at"] > app["updated_at"]
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
    assert page == [{**app, "configuration_count": 0, "changed_at": app["updated_at"]}]


def test_list_items_count_configurations_and_show_the_latest_change_deletions_included(client, unique):
    app = create(client, unique())
    configs = [
        client.post("/api/v1/configurations", json={"application_id": app["id"], "name": unique(), "config": {}}).json()
        for _ in range(2)
    ]
    client.delete(f"/api/v1/configurations/{configs[0]['id']}")
    just_before = str(ULID.from_int(int(ULID.from_str(app["id"])) - 1))

    item = client.get(API, params={"limit": 1, "after": just_before}).json()[0]

    assert item["configuration_count"] == 1
    assert item["changed_at"] > configs[1]["updated_at"]  # the deletion came last


def test_search_finds_names_containing_the_text_in_any_case(client, unique):
    marker = unique("Needle").upper()
    wanted = [create(client, f"{prefix}{marker}{suffix}")["id"] for prefix, suffix in (("a-", ""), ("", "-z"))]
    create(client, unique("hay"))

    found = client.get(API, params={"search": marker.lower(), "limit": 1000}).json()

    assert sorted(item["id"] for item in found) == sorted(wanted)
    for bad in ("", "\u0000", "x" * 257):
        assert client.get(API, params={"search": bad}).status_code == 422


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


MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def test_patch_changes_only_the_fields_given(client, unique):
    app = create(client, unique(), "kept")
    new_name = unique("renamed")

    renamed = client.patch(f"{API}/{app['id']}", json={"name": new_name}, headers=MERGE_PATCH)
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["comments"], renamed.json()["version"]) == (new_name, "kept", 2)

    cleared = client.patch(f"{API}/{app['id']}", json={"comments": None}, headers=MERGE_PATCH)
    assert (cleared.json()["name"], cleared.json()["comments"]) == (new_name, None)


@pytest.mark.parametrize(
    ("body", "location"),
    [({"name": None}, "body.name"), ({"name": "  "}, "body.name"), ({"id": "x"}, "body.id"), ([1], "body")],
)
def test_patch_with_an_invalid_result_is_422(client, unique, body, location):
    app = create(client, unique())
    response = client.patch(f"{API}/{app['id']}", json=body, headers=MERGE_PATCH)
    assert response.status_code == 422
    assert response.json()["details"][0]["location"] == location
    assert client.get(f"{API}/{app['id']}").json()["version"] == 1


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_patch_in_any_other_content_type_is_415(client, unique, content_type):
    app = create(client, unique())
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.patch(f"{API}/{app['id']}", content=b'{"comments": "x"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_patch_renaming_to_a_taken_name_is_409(client, unique):
    taken = create(client, unique())
    mine = create(client, unique())
    response = client.patch(f"{API}/{mine['id']}", json={"name": taken["name"]}, headers=MERGE_PATCH)
    assert response.status_code == 409


def test_delete_an_application_without_configurations(client, unique):
    app = create(client, unique())
    response = client.delete(f"{API}/{app['id']}")
    assert response.status_code == 204 and response.content == b""
    assert client.get(f"{API}/{app['id']}").status_code == 404
    assert client.delete(f"{API}/{app['id']}").status_code == 404
    assert create(client, app["name"])["name"] == app["name"]  # the name is free again


def test_delete_an_application_with_configurations_is_409_saying_how_many(client, unique):
    app = create(client, unique())
    for _ in range(3):
        client.post("/api/v1/configurations", json={"application_id": app["id"], "name": unique(), "config": {}})

    response = client.delete(f"{API}/{app['id']}")

    assert response.status_code == 409
    assert "3 configurations" in response.json()["message"]
    assert client.get(f"{API}/{app['id']}").status_code == 200


def test_an_applications_configurations_are_listed_in_id_order_with_their_documents(client, unique):
    app = create(client, unique())
    made = [
        client.post(
            "/api/v1/configurations", json={"application_id": app["id"], "name": unique(), "config": {"n": n}}
        ).json()
        for n in range(5)
    ]
    expected = sorted(made, key=lambda c: c["id"])

    seen, url = [], f"{API}/{app['id']}/configurations?limit=2"
    while url:
        response = client.get(url)
        seen += response.json()
        link = response.headers.get("link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
    assert seen == expected

    by_query = client.get("/api/v1/configurations", params={"application_id": app["id"], "limit": 2, "offset": 2})
    assert by_query.json() == expected[2:4]
    assert "application_id=" in by_query.headers["link"]
    assert client.get("/api/v1/configurations", params={"application_id": app["id"]}).json() == expected


def test_listing_the_configurations_of_an_unknown_application_is_404(client):
    missing = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"
    assert client.get(f"{API}/{missing}/configurations").status_code == 404
    assert client.get("/api/v1/configurations", params={"application_id": missing}).status_code == 404
    assert client.get("/api/v1/configurations").status_code == 422  # which application?


def test_lists_page_by_offset_too_but_not_by_offset_and_after(client, unique):
    for _ in range(3):
        create(client, unique("offset"))
    first = client.get(API, params={"limit": 3}).json()
    assert client.get(API, params={"limit": 2, "offset": 1}).json() == first[1:]
    response = client.get(API, params={"after": first[0]["id"], "offset": 1})
    assert response.status_code == 422
    assert response.json()["details"][0]["location"] == "query.offset"
    for bad in ("-1", "x"):
        assert client.get(API, params={"offset": bad}).status_code == 422


@pytest.mark.parametrize("name", ["", " ", "   ", "\t\n"])
def test_a_blank_name_is_422_everywhere(client, unique, name):
    app = create(client, unique())
    assert client.post(API, json={"name": name}).status_code == 422
    assert client.put(f"{API}/{app['id']}", json={"name": name}).status_code == 422
    assert client.patch(f"{API}/{app['id']}", json={"name": name}, headers=MERGE_PATCH).status_code == 422
    config = {"application_id": app["id"], "name": name, "config": {}}
    assert client.post("/api/v1/configurations", json=config).status_code == 422


def test_a_trailing_slash_is_served_not_redirected(client, unique):
    response = client.post(f"{API}/", json={"name": unique()}, follow_redirects=False)
    assert response.status_code == 201
    assert client.get(f"{API}/{response.json()['id']}/", follow_redirects=False).status_code == 200
    assert client.get(f"{API}/", follow_redirects=False).status_code == 200
