"""/api/v1/configurations over HTTP."""

import pytest

API = "/api/v1/configurations"


@pytest.fixture
def app_id(client, unique) -> str:
    return client.post("/api/v1/applications", json={"name": unique("app")}).json()["id"]


def create(client, app_id: str, name: str, config: dict | None = None, **extra) -> dict:
    body = {"application_id": app_id, "name": name, "config": config or {}, **extra}
    response = client.post(API, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_is_201_with_the_full_representation_and_location(client, app_id, unique):
    name = unique()
    config = {"url": "https://x.example", "retries": 3, "tags": ["a", "b"], "on": True, "none": None}
    response = client.post(API, json={"application_id": app_id, "name": name, "comments": "c", "config": config})

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "application_id": app_id,
        "name": name,
        "comments": "c",
        "config": config,
        "version": 1,
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
        "release": "immediate",
        "live_version": 1,
        "secrets": [],
    }
    assert response.headers["location"] == f"{API}/{body['id']}"
    assert client.get(response.headers["location"]).json() == body


def test_put_replaces_name_comments_and_config(client, app_id, unique):
    created = create(client, app_id, unique(), {"a": 1}, comments="old")
    new_name = unique("renamed")

    response = client.put(f"{API}/{created['id']}", json={"name": new_name, "config": {"b": 2}})

    assert response.status_code == 200
    expected = {**created, "name": new_name, "comments": None, "config": {"b": 2}, "version": 2, "live_version": 2}
    expected["updated_at"] = response.json()["updated_at"]
    assert response.json() == expected
    assert client.get(f"{API}/{created['id']}").json() == expected


def test_put_may_repeat_the_same_application_id(client, app_id, unique):
    created = create(client, app_id, unique())
    response = client.put(f"{API}/{created['id']}", json={"application_id": app_id, "name": unique(), "config": {}})
    assert response.status_code == 200


def test_put_with_another_application_id_is_422_and_changes_nothing(client, app_id, unique):
    created = create(client, app_id, unique(), {"a": 1})
    other = client.post("/api/v1/applications", json={"name": unique("other")}).json()["id"]

    response = client.put(f"{API}/{created['id']}", json={"application_id": other, "name": unique(), "config": {}})

    assert response.status_code == 422
    assert response.json()["details"][0]["location"] == "body.application_id"
    assert client.get(f"{API}/{created['id']}").json() == created


def test_unknown_configuration_is_404_for_get_and_put(client, unique):
    missing = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"
    assert client.get(f"{API}/{missing}").status_code == 404
    assert client.put(f"{API}/{missing}", json={"name": unique(), "config": {}}).status_code == 404


def test_application_id_naming_no_application_is_422(client, unique):
    body = {"application_id": "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", "name": unique(), "config": {}}
    response = client.post(API, json=body)
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"location": "body.application_id", "message": "application 01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4 does not exist"}
    ]


def test_duplicate_name_within_an_application_is_409_but_fine_in_another(client, app_id, unique):
    name = unique()
    create(client, app_id, name)
    assert client.post(API, json={"application_id": app_id, "name": name, "config": {}}).status_code == 409

    other = client.post("/api/v1/applications", json={"name": unique("other")}).json()["id"]
    assert create(client, other, name)["name"] == name


def test_rename_to_a_taken_name_is_409(client, app_id, unique):
    taken = create(client, app_id, unique())
    mine = create(client, app_id, unique())
    response = client.put(f"{API}/{mine['id']}", json={"name": taken["name"], "config": {}})
    assert response.status_code == 409


@pytest.mark.parametrize("config", [[1, 2], "text", 3, None, True])
def test_config_that_is_not_a_json_object_is_422(client, app_id, unique, config):
    response = client.post(API, json={"application_id": app_id, "name": unique(), "config": config})
    assert response.status_code == 422
    assert response.json()["details"][0]["location"] == "body.config"


def test_missing_config_is_422(client, app_id, unique):
    assert client.post(API, json={"application_id": app_id, "name": unique()}).status_code == 422


def test_large_numbers_and_sql_metacharacters_come_back_verbatim(client, app_id):
    tricky = "Robert'); DROP TABLE applications;-- %s %(x)s \\ \" ' ; $$ ¿ 🎛"
    config = {tricky: tricky, "big": 10**399, "neg": -(10**120), "float": 1.5e300, "nested": {"q": "'"}}
    created = create(client, app_id, tricky, config, comments=tricky)

    fetched = client.get(f"{API}/{created['id']}").json()
    assert fetched["name"] == tricky and fetched["comments"] == tricky
    # jsonb keeps numbers as exact decimals: 1.5e300 comes back as the same number, in digits.
    assert float(fetched["config"].pop("float")) == config.pop("float")
    assert fetched["config"] == config


MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def test_patch_changes_one_key_of_a_large_document_without_resending_it(client, app_id, unique):
    document = {f"key_{n:04d}": {"value": n, "tags": ["a", "b"]} for n in range(2000)}
    created = create(client, app_id, unique(), document, comments="kept")

    response = client.patch(f"{API}/{created['id']}", json={"config": {"key_0042": {"value": -1}}}, headers=MERGE_PATCH)

    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 2 and body["comments"] == "kept" and body["name"] == created["name"]
    assert body["config"]["key_0042"] == {"value": -1, "tags": ["a", "b"]}
    document["key_0042"]["value"] = -1
    assert client.get(f"{API}/{created['id']}").json()["config"] == document


def test_patch_merge_rules_null_removes_objects_merge_arrays_replace(client, app_id, unique):
    created = create(client, app_id, unique(), {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "f": "x"})
    patch = {"a": None, "b": {"c": None, "z": {"y": 1}}, "e": [3], "f": {"g": None}}

    response = client.patch(f"{API}/{created['id']}", json={"config": patch}, headers=MERGE_PATCH)

    assert response.json()["config"] == {"b": {"d": 3, "z": {"y": 1}}, "e": [3], "f": {}}


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"config": None}, "body.config"),
        ({"config": [1]}, "body.config"),
        ({"config": "text"}, "body.config"),
        ({"name": None}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"config": {"bad": "\u0000"}}, "body.config"),
        ({"unknown": 1}, "body.unknown"),
    ],
)
def test_patch_with_an_invalid_result_is_422_and_changes_nothing(client, app_id, unique, body, location):
    created = create(client, app_id, unique(), {"a": 1})
    response = client.patch(f"{API}/{created['id']}", json=body, headers=MERGE_PATCH)
    assert response.status_code == 422
    assert response.json()["details"][0]["location"] == location
    assert client.get(f"{API}/{created['id']}").json() == created


def test_patch_rename_conflict_is_409_and_unknown_id_404_and_other_types_415(client, app_id, unique):
    taken = create(client, app_id, unique())
    mine = create(client, app_id, unique())
    assert client.patch(f"{API}/{mine['id']}", json={"name": taken["name"]}, headers=MERGE_PATCH).status_code == 409
    missing = f"{API}/01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"
    assert client.patch(missing, json={"config": {}}, headers=MERGE_PATCH).status_code == 404
    assert client.patch(f"{API}/{mine['id']}", json={"config": {}}).status_code == 415


def test_delete_removes_it_and_frees_its_name(client, app_id, unique):
    created = create(client, app_id, unique())
    response = client.delete(f"{API}/{created['id']}")

    assert response.status_code == 204 and response.content == b""
    assert client.get(f"{API}/{created['id']}").status_code == 404
    assert created["id"] not in client.get(f"/api/v1/applications/{app_id}").json()["configuration_ids"]
    assert create(client, app_id, created["name"])["name"] == created["name"]
    assert client.delete(f"{API}/{created['id']}").status_code == 404
