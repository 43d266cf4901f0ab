"""Bad input gets a clear 4xx in the one error shape, and nothing is written."""

import json

import pytest

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
JSON = {"content-type": "application/json"}


@pytest.fixture
def app_id(client, unique) -> str:
    return client.post(APPS, json={"name": unique("app")}).json()["id"]


def assert_error(response, status: int, location: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    if location is not None:
        assert location in [detail["location"] for detail in body["details"]], body
    return body


def app_named(client, name: str) -> bool:
    page = client.get(APPS, params={"limit": 1000}).json()
    return any(item["name"] == name for item in page)


@pytest.mark.parametrize(
    "path_id", ["not-a-ulid", "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P", "81JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", "01JDQ8ZJ1T2K5X1VJ4Q6M2N3PU"]
)
def test_malformed_ulid_in_the_path_is_422(client, path_id):
    assert_error(client.get(f"{APPS}/{path_id}"), 422, "path.id")
    assert_error(client.get(f"{CONFIGS}/{path_id}"), 422, "path.id")
    assert_error(client.put(f"{APPS}/{path_id}", json={"name": "x"}), 422, "path.id")


@pytest.mark.parametrize(
    "body, location",
    [
        ({}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"name": "x" * 257}, "body.name"),
        ({"name": "ok", "comments": "x" * 1025}, "body.comments"),
        ({"name": 12}, "body.name"),
        ({"name": "ok", "id": "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"}, "body.id"),
        ({"name": "ok", "unknown": 1}, "body.unknown"),
    ],
)
def test_invalid_application_body_is_422(client, body, location):
    assert_error(client.post(APPS, json=body), 422, location)


def test_limits_count_characters_so_multibyte_text_up_to_the_limit_fits(client, unique):
    name = unique() + "é" + "é🎛" * 119  # 256 characters, about 720 bytes in UTF-8
    assert len(name) == 256
    response = client.post(APPS, json={"name": name, "comments": "ü" * 1024})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    assert_error(client.post(APPS, json={"name": name + "é"}), 422, "body.name")


@pytest.mark.parametrize(
    "raw, location",
    [
        ('{"name": "a\\u0000b"}', "body.name"),
        ('{"name": "ok", "comments": "\\u0000"}', "body.comments"),
        # The JSON parser itself refuses unpaired surrogates: the whole body is at fault.
        ('{"name": "\\ud800"}', "body"),
        ('{"name": "ok", "comments": "x\\udfffy"}', "body"),
    ],
)
def test_nul_and_unpaired_surrogates_in_strings_are_422(client, raw, location):
    assert_error(client.post(APPS, content=raw, headers=JSON), 422, location)


@pytest.mark.parametrize(
    "config, location",
    [
        ('{"a\\u0000": 1}', "body.config"),
        ('{"a": "\\u0000"}', "body.config"),
        # Read keeping the document as written (infra/documents.py): located in the document.
        ('{"a": ["ok", {"deep": "\\ud83d"}]}', "body.config"),
        ('{"\\udc00": 1}', "body.config"),
        ('{"a": NaN}', "body.config"),
        ('{"a": Infinity}', "body.config"),
        ('{"a": 1e400}', "body.config"),
    ],
)
def test_unstorable_config_is_422(client, app_id, unique, config, location):
    raw = f'{{"application_id": "{app_id}", "name": "{unique()}", "config": {config}}}'
    assert_error(client.post(CONFIGS, content=raw, headers=JSON), 422, location)
    assert client.get(f"{APPS}/{app_id}").json()["configuration_ids"] == []


@pytest.mark.parametrize("depth, location", [(100, "body.config"), (5000, "body.config"), (50000, "body")])
def test_config_nested_too_deep_is_422(client, app_id, unique, depth, location):
    # Past 64 levels the document is refused; far past, the JSON parser refuses it first.
    nested = "[" * depth + "]" * depth
    raw = f'{{"application_id": "{app_id}", "name": "{unique()}", "config": {{"a": {nested}}}}}'
    assert_error(client.post(CONFIGS, content=raw, headers=JSON), 422, location)


def test_body_nested_5000_deep_is_a_4xx(client):
    response = client.post(APPS, content="[" * 5000 + "]" * 5000, headers=JSON)
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


@pytest.mark.parametrize("raw", ['{"name": ', "{'name': 'x'}", '{"name": "x"', "\xff\xfe", "null", "[]", '"x"'])
def test_malformed_or_non_object_json_is_422(client, raw):
    assert_error(client.post(APPS, content=raw.encode("latin-1"), headers=JSON), 422, "body")


def test_a_400_digit_number_is_stored_exactly(client, app_id, unique):
    digits = "9" * 400
    raw = f'{{"application_id": "{app_id}", "name": "{unique()}", "config": {{"n": {digits}, "f": 0.{digits}}}}}'
    response = client.post(CONFIGS, content=raw, headers=JSON)
    assert response.status_code == 201, response.text
    assert json.loads(client.get(response.headers["location"]).text)["config"]["n"] == int(digits)


def test_body_over_the_limit_is_413_before_it_is_read(client, unique):
    name = unique()
    body = json.dumps({"name": name, "comments": "x" * (1024 * 1024)})
    assert_error(client.post(APPS, content=body, headers=JSON), 413)
    assert not app_named(client, name)


def test_chunked_body_over_the_limit_is_413(client):
    def chunks():
        yield b'{"name": "chunked", "comments": "'
        for _ in range(2048):
            yield b"x" * 1024
        yield b'"}'

    assert_error(client.post(APPS, content=chunks(), headers=JSON), 413)


def test_non_json_content_type_is_415(client):
    assert_error(
        client.post(APPS, content="name=x", headers={"content-type": "application/x-www-form-urlencoded"}), 415
    )


def test_unknown_route_and_method_use_the_error_shape(client):
    assert assert_error(client.get("/api/v1/nothing-here"), 404)["code"] == "not_found"
    assert assert_error(client.delete(APPS), 405)["code"] == "method_not_allowed"


def test_405_lists_every_method_of_the_path(client):
    response = client.post(f"{CONFIGS}/01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"
