"""/api/v1/configurations/{id}/schema: a JSON Schema per configuration, and every change of its
document checked against it."""

import pytest

API = "/api/v1"
CONFIGS = f"{API}/configurations"
MERGE_PATCH = {"content-type": "application/merge-patch+json"}
MISSING = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"

SCHEMA = {
    "type": "object",
    "properties": {
        "db": {
            "type": "object",
            "properties": {"pool": {"type": "integer", "minimum": 1, "maximum": 100}, "host": {"type": "string"}},
            "required": ["pool"],
        },
        "mode": {"enum": ["fast", "safe"]},
    },
    "required": ["db"],
}
GOOD = {"db": {"pool": 20, "host": "db.internal"}, "mode": "safe"}


@pytest.fixture
def config(client, unique) -> dict:
    app = client.post(f"{API}/applications", json={"name": unique("app")}).json()
    body = {"application_id": app["id"], "name": unique(), "config": GOOD}
    return {**client.post(CONFIGS, json=body).json(), "application_name": app["name"]}


@pytest.fixture
def guarded(client, config) -> dict:
    response = client.put(f"{CONFIGS}/{config['id']}/schema", json=SCHEMA)
    assert response.status_code == 200, response.text
    return config


def violations(response, code: str = "schema_violation") -> list[tuple]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code, body
    return [(d["location"], d.get("path"), d.get("keyword")) for d in body["details"]]


def test_set_get_and_remove_a_schema(client, config):
    url = f"{CONFIGS}/{config['id']}/schema"
    missing = client.get(url)
    assert (missing.status_code, missing.json()["code"]) == (404, "no_schema")

    written = '{"type":"object","properties":{"b":{"type":"integer"},"a":{"maximum":1.50}}}'
    response = client.put(url, content=written, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    view = response.json()
    assert set(view) == {"configuration_id", "schema", "draft", "version", "revision", "created_at", "updated_at"}
    assert (view["configuration_id"], view["draft"], view["version"]) == (config["id"], "2020-12", 1)
    assert f'"schema":{written}' in response.text  # as written
    assert response.headers["etag"] == f'"{view["revision"]}"'
    got = client.get(url)
    assert got.json() == view and got.headers["etag"] == response.headers["etag"]
    assert client.get(url, headers={"if-none-match": response.headers["etag"]}).status_code == 304

    assert client.delete(url).status_code == 204
    assert client.get(url).json()["code"] == "no_schema"
    assert client.delete(url).json()["code"] == "no_schema"


def test_a_configuration_that_does_not_exist_has_no_schema_route(client):
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(method, f"{CONFIGS}/{MISSING}/schema", json=SCHEMA if method == "PUT" else None)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), method


@pytest.mark.parametrize(
    "said, draft",
    [
        ("http://json-schema.org/draft-07/schema#", "draft-07"),
        ("https://json-schema.org/draft/2019-09/schema", "2019-09"),
        ("https://json-schema.org/draft/2020-12/schema", "2020-12"),
    ],
)
def test_the_draft_comes_from_dollar_schema(client, config, said, draft):
    response = client.put(f"{CONFIGS}/{config['id']}/schema", json={"$schema": said, **SCHEMA})
    assert response.status_code == 200, response.text
    assert response.json()["draft"] == draft


@pytest.mark.parametrize(
    "schema, path, says",
    [
        ({"type": "strnig"}, "/type", "not a valid JSON Schema"),
        ({"properties": {"a": {"minimum": "one"}}}, "/properties/a/minimum", "not a valid JSON Schema"),
        ({"pattern": "("}, "/pattern", "not a valid JSON Schema"),
        ({"$schema": "http://json-schema.org/draft-04/schema#"}, "/$schema", "not supported"),
        ({"$ref": "https://example.com/schemas/db.json"}, "", "fetches no schema"),
        ({"properties": {"db": {"$ref": "other.json#/db"}}}, "", "fetches no schema"),
    ],
)
def test_an_invalid_schema_is_422_with_the_reason_and_nothing_is_set(client, config, schema, path, says):
    url = f"{CONFIGS}/{config['id']}/schema"
    response = client.put(url, json=schema)
    assert violations(response, "invalid_schema") == [("body", path, None)]
    assert says in response.json()["details"][0]["message"]
    assert client.get(url).json()["code"] == "no_schema"


def test_a_schema_that_is_not_an_object_is_422(client, config):
    response = client.put(f"{CONFIGS}/{config['id']}/schema", json=[1])
    assert response.status_code == 422 and response.json()["details"][0]["location"] == "body"


def test_a_schema_the_current_document_fails_is_422_listing_every_violation(client, config):
    url = f"{CONFIGS}/{config['id']}/schema"
    strict = {
        "properties": {"db": {"properties": {"pool": {"maximum": 10}, "host": {"format": "ipv4"}}}},
        "required": ["x"],
    }
    assert violations(client.put(url, json=strict)) == [
        ("config", "", "required"),
        ("config", "/db/host", "format"),
        ("config", "/db/pool", "maximum"),
    ]
    assert client.get(url).json()["code"] == "no_schema"


def test_put_that_violates_the_schema_is_422_with_every_violation_and_writes_nothing(client, guarded):
    url = f"{CONFIGS}/{guarded['id']}"
    bad = {"db": {"pool": "twenty", "host": 5}, "mode": "slow", "extra": True}
    response = client.put(url, json={"name": guarded["name"], "config": bad})
    assert violations(response) == [
        ("body.config", "/db/host", "type"),
        ("body.config", "/db/pool", "type"),
        ("body.config", "/mode", "enum"),
    ]
    detail = response.json()["details"][1]
    assert detail["path"] == "/db/pool" and "integer" in detail["message"]
    assert client.get(url).json()["version"] == 1


def test_patch_that_violates_the_schema_is_422_and_a_good_one_passes(client, guarded):
    url = f"{CONFIGS}/{guarded['id']}"
    response = client.patch(url, json={"config": {"db": {"pool": 0}}}, headers=MERGE_PATCH)
    assert violations(response) == [("body.config", "/db/pool", "minimum")]
    response = client.patch(url, json={"config": {"db": {"pool": None}}}, headers=MERGE_PATCH)
    assert violations(response) == [("body.config", "/db", "required")]
    assert client.get(url).json()["version"] == 1

    response = client.patch(url, json={"config": {"db": {"pool": 42}}}, headers=MERGE_PATCH)
    assert response.status_code == 200, response.text
    assert response.json()["config"] == {"db": {"pool": 42, "host": "db.internal"}, "mode": "safe"}
    # Name and comments alone change no document: nothing to validate.
    assert client.patch(url, json={"comments": "x"}, headers=MERGE_PATCH).status_code == 200


@pytest.mark.parametrize(
    "schema, good, bad, keyword",
    [
        ({"type": "integer"}, 3, 3.5, "type"),
        ({"minimum": 2}, 2, 1, "minimum"),
        ({"exclusiveMaximum": 2}, 1.5, 2, "exclusiveMaximum"),
        ({"multipleOf": 5}, 10, 12, "multipleOf"),
        ({"minLength": 2}, "ab", "a", "minLength"),
        ({"maxLength": 2}, "ab", "abc", "maxLength"),
        ({"pattern": "^v[0-9]+$"}, "v12", "12", "pattern"),
        ({"enum": ["a", "b"]}, "a", "c", "enum"),
        ({"const": 1}, 1, 2, "const"),
        ({"minItems": 1}, [1], [], "minItems"),
        ({"uniqueItems": True}, [1, 2], [1, 1], "uniqueItems"),
        ({"items": {"type": "string"}}, ["a"], ["a", 1], "type"),  # at /v/1
        ({"required": ["k"]}, {"k": 1}, {}, "required"),
        ({"additionalProperties": False, "properties": {"k": {}}}, {"k": 1}, {"j": 1}, "additionalProperties"),
        ({"not": {"type": "null"}}, 1, None, "not"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, 1, 1.5, "oneOf"),
        ({"format": "uri"}, "https://example.com/a?b=c", "not a uri", "format"),
        ({"format": "email"}, "ops@example.com", "ops.example.com", "format"),
        ({"format": "date-time"}, "2026-11-28T10:00:00Z", "2026-11-28 ten o'clock", "format"),
        ({"format": "date"}, "2026-11-28", "28/11/2026", "format"),
        ({"format": "duration"}, "PT30S", "30 seconds", "format"),
        ({"format": "ipv4"}, "10.0.0.1", "10.0.0.256", "format"),
        ({"format": "ipv6"}, "::1", "::g", "format"),
        ({"format": "hostname"}, "db.internal", "db..internal", "format"),
        ({"format": "uuid"}, "5f0c6a2e-8d1b-4b8e-9a55-3f2d1c0b9a87", "5f0c6a2e", "format"),
    ],
)
def test_each_kind_of_violation_is_reported_with_its_keyword(client, config, schema, good, bad, keyword):
    url = f"{CONFIGS}/{config['id']}"
    wrapped = {"properties": {"v": schema}}
    client.put(url, json={"name": config["name"], "config": {"v": good}})
    assert client.put(f"{url}/schema", json=wrapped).status_code == 200
    response = client.put(url, json={"name": config["name"], "config": {"v": bad}})
    path = "/v/1" if "items" in schema else "/v"
    assert violations(response) == [("body.config", path, keyword)]
    assert client.put(url, json={"name": config["name"], "config": {"v": good}}).status_code == 200


def test_several_violations_come_at_once_in_path_order(client, config):
    url = f"{CONFIGS}/{config['id']}"
    assert client.put(f"{url}/schema", json={"additionalProperties": {"type": "integer"}}).status_code == 422
    client.put(url, json={"name": config["name"], "config": {}})
    assert client.put(f"{url}/schema", json={"additionalProperties": {"type": "integer"}}).status_code == 200
    bad = {f"k{n:03d}": "x" for n in range(150)}
    response = client.put(url, json={"name": config["name"], "config": bad})
    found = violations(response)
    assert [path for _, path, _ in found[:100]] == [f"/k{n:03d}" for n in range(100)]
    assert found[100] == ("body.config", None, None)
    assert response.json()["details"][100]["message"] == "and 50 more violations"


def test_ref_within_the_schema_works(client, config):
    url = f"{CONFIGS}/{config['id']}"
    schema = {
        "$defs": {"pool": {"type": "integer", "minimum": 1}},
        "properties": {"db": {"properties": {"pool": {"$ref": "#/$defs/pool"}}}},
    }
    assert client.put(f"{url}/schema", json=schema).status_code == 200
    response = client.put(url, json={"name": config["name"], "config": {"db": {"pool": -1}}})
    assert violations(response) == [("body.config", "/db/pool", "minimum")]


def test_draft_07_definitions_and_ref_work(client, config):
    url = f"{CONFIGS}/{config['id']}"
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"mode": {"enum": ["fast", "safe"]}},
        "properties": {"mode": {"$ref": "#/definitions/mode"}},
    }
    assert client.put(f"{url}/schema", json=schema).json()["draft"] == "draft-07"
    response = client.put(url, json={"name": config["name"], "config": {"mode": "slow"}})
    assert violations(response) == [("body.config", "/mode", "enum")]


def test_restore_of_a_version_the_schema_refuses_is_422_and_changes_nothing(client, config):
    url = f"{CONFIGS}/{config['id']}"
    assert client.put(url, json={"name": config["name"], "config": {**GOOD, "mode": "fast"}}).status_code == 200
    assert client.put(f"{url}/schema", json={"properties": {"mode": {"const": "fast"}}}).status_code == 200

    response = client.post(f"{url}/versions/1/restore")  # version 1 has mode "safe"
    assert violations(response) == [("config", "/mode", "const")]
    assert client.get(url).json()["version"] == 2

    assert client.delete(f"{url}/schema").status_code == 204
    assert client.post(f"{url}/versions/1/restore").status_code == 200


def test_the_schema_has_its_own_history_and_each_change_is_in_the_feed(client, config):
    url = f"{CONFIGS}/{config['id']}/schema"
    latest = client.get(f"{CONFIGS}/{config['id']}").headers["etag"].strip('"')
    first = client.put(url, json={"type": "object"}).json()
    second = client.put(url, json=SCHEMA, headers={"if-match": f'"{first["revision"]}"'}).json()
    assert client.delete(url, headers={"if-match": f'"{second["revision"]}"'}).status_code == 204
    restored = client.post(f"{url}/versions/1/restore")
    assert restored.status_code == 200, restored.text
    assert (restored.json()["version"], restored.json()["schema"]) == (3, {"type": "object"})

    versions = client.get(f"{url}/versions").json()
    assert [(v["version"], v["schema"]) for v in versions] == [
        (3, {"type": "object"}),
        (2, SCHEMA),
        (1, {"type": "object"}),
    ]
    assert client.get(f"{url}/versions/2").json()["schema"] == SCHEMA
    assert client.get(f"{url}/versions/9").status_code == 404

    changes = client.get(f"{API}/changes", params={"after": latest, "limit": 100}).json()
    mine = [(c["kind"], c["action"], c["id"], c["name"], c["version"]) for c in changes if c["kind"] == "schema"]
    id, name = config["id"], config["name"]
    assert mine == [
        ("schema", "created", id, name, 1),
        ("schema", "updated", id, name, 2),
        ("schema", "deleted", id, name, 2),
        ("schema", "restored", id, name, 3),
    ]


def test_if_match_on_the_schema(client, guarded):
    url = f"{CONFIGS}/{guarded['id']}/schema"
    current = client.get(url).headers["etag"]
    assert client.put(url, json=SCHEMA, headers={"if-match": '"1"'}).status_code == 412
    assert client.delete(url, headers={"if-match": '"1"'}).status_code == 412
    assert client.put(url, json=SCHEMA, headers={"if-match": current}).status_code == 200
    assert client.delete(url, headers={"if-match": "*"}).status_code == 204
    # `*` needs a current schema.
    assert client.put(url, json=SCHEMA, headers={"if-match": "*"}).status_code == 412


def test_deleting_the_configuration_removes_its_schema_and_a_restore_brings_the_document_back_alone(client, guarded):
    url = f"{CONFIGS}/{guarded['id']}"
    created = int(client.get(url).headers["etag"].strip('"'))
    assert client.delete(url).status_code == 204
    changes = client.get(f"{API}/changes", params={"after": created - 1, "limit": 1000}).json()
    assert [(c["kind"], c["action"]) for c in changes if c["id"] == guarded["id"]][-2:] == [
        ("configuration", "deleted"),
        ("schema", "deleted"),
    ]
    assert client.post(f"{url}/versions/1/restore").status_code == 200
    assert client.get(f"{url}/schema").json()["code"] == "no_schema"
    assert [v["version"] for v in client.get(f"{url}/schema/versions").json()] == [1]


def test_reads_go_on_as_before_while_schemas_change(client, guarded):
    """Schema announcements reach every reader without disturbing the views held."""
    url = f"{CONFIGS}/{guarded['id']}"
    by_name = f"{API}/config/{guarded['application_name']}/{guarded['name']}"
    bundle = f"{API}/config/{guarded['application_name']}"
    for _ in range(3):
        assert client.put(f"{url}/schema", json={"type": "object"}).status_code == 200
        assert client.get(url).json()["config"] == GOOD
        assert client.get(by_name).json()["config"] == GOOD
        assert [c["name"] for c in client.get(bundle).json()["configurations"]] == [guarded["name"]]
        assert client.delete(f"{url}/schema").status_code == 204
