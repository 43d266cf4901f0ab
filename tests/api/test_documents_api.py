"""Documents come back as they were written: keys in the order written at every depth, numbers
in their written form, through every read; keys written twice and numbers no double holds
are refused with their JSON Pointer."""

import json
import time

import psycopg2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.support import app_settings

API = "/api/v1"
CONFIGS = f"{API}/configurations"
JSON = {"content-type": "application/json"}
MERGE_PATCH = {"content-type": "application/merge-patch+json"}

# Keys in no sorted order at every depth (jsonb would put "b" before "zeta", short before
# long, "10" before "2"), numbers in forms a double or jsonb would write differently.
WRITTEN = (
    '{"zeta":{"zz":1.0,"aa":[{"b":1.50,"a":-0.0}],"mm":1e2},"b":true,"10":12345678901234567890123,'
    '"2":-0,"alpha":{"y":[3,{"q":null,"p":"x"}],"x":1E-7}}'
)


@pytest.fixture
def app(client, unique) -> dict:
    return client.post(f"{API}/applications", json={"name": unique("app")}).json()


def post_raw(client, app: dict, name: str, document: str):
    raw = f'{{"application_id": "{app["id"]}", "name": {json.dumps(name)}, "config": {document}}}'
    return client.post(CONFIGS, content=raw, headers=JSON)


@pytest.fixture
def written(client, app, unique) -> dict:
    response = post_raw(client, app, unique(), WRITTEN)
    assert response.status_code == 201, response.text
    return response.json()


def shows(response, document: str = WRITTEN) -> bool:
    """The response's body holds the document as written (views are compact: so is it)."""
    assert response.status_code == 200, response.text
    return f'"config":{document}' in response.text


def test_every_read_returns_the_document_as_written(client, app, written):
    id, name = written["id"], written["name"]
    created = client.get(f"{CONFIGS}/{id}")
    assert shows(created)
    for path in (
        f"{API}/config/{app['name']}/{name}",
        f"{API}/config/{app['name']}",
        f"{API}/applications/{app['id']}/configurations",
        f"{CONFIGS}?application_id={app['id']}",
        f"{CONFIGS}/{id}/versions",
        f"{CONFIGS}/{id}/versions/1",
    ):
        assert shows(client.get(path)), path


def test_a_write_answers_with_the_document_as_written(client, app, written, unique):
    created = post_raw(client, app, unique(), WRITTEN)
    assert created.status_code == 201 and f'"config":{WRITTEN}' in created.text
    body = f'{{"name": "{unique()}", "config": {WRITTEN}}}'
    assert shows(client.put(f"{CONFIGS}/{written['id']}", content=body, headers=JSON))


def test_a_restored_version_comes_back_as_written(client, written):
    id = written["id"]
    assert client.put(f"{CONFIGS}/{id}", json={"name": written["name"], "config": {"other": 1}}).status_code == 200

    assert shows(client.post(f"{CONFIGS}/{id}/versions/1/restore"))
    assert shows(client.get(f"{CONFIGS}/{id}"))
    assert shows(client.get(f"{CONFIGS}/{id}/versions/3"))


def test_whitespace_between_tokens_is_not_kept_but_everything_else_is(client, app, unique):
    spaced = '{ "b" : [ 1 , 2.50 ] ,\n  "a" : { "s" : "x y" } }'
    response = post_raw(client, app, unique(), spaced)
    assert response.status_code == 201
    assert '"config":{"b":[1,2.50],"a":{"s":"x y"}}' in response.text


@pytest.mark.parametrize("number", ["1.0", "1.50", "-0.0", "1e2", "1E+2", "12345678901234567890123", "-0", "5e-324"])
def test_numbers_keep_their_written_form(client, app, unique, number):
    document = f'{{"n":{number},"list":[{number}]}}'
    response = post_raw(client, app, unique(), document)
    assert response.status_code == 201, response.text
    assert shows(client.get(response.headers["location"]), document)


@pytest.mark.parametrize(
    "number, path",
    [("1e400", "/n"), ("-1e400", "/n"), ("1e-400", "/n"), ("[1, 1E309]", "/n/1"), ('{"deep": 2e308}', "/n/deep")],
)
def test_a_number_no_double_holds_is_422_with_its_path(client, app, unique, number, path):
    response = post_raw(client, app, unique(), f'{{"n": {number}}}')
    assert response.status_code == 422, response.text
    detail = response.json()["details"][0]
    assert (detail["location"], detail["path"]) == ("body.config", path)
    assert "double" in detail["message"]


@pytest.mark.parametrize(
    "document, path",
    [
        ('{"a": 1, "b": 2, "a": 3}', "/a"),
        ('{"x": {"y": [0, {"k": 1, "k": 2}]}}', "/x/y/1/k"),
        ('{"a/b": {"~": 1, "~": 2}}', "/a~1b/~0"),
    ],
)
def test_a_key_written_twice_is_422_with_its_path(client, app, unique, document, path):
    name = unique()
    response = post_raw(client, app, name, document)
    assert response.status_code == 422, response.text
    detail = response.json()["details"][0]
    assert detail == {"location": "body.config", "message": "is written more than once", "path": path}
    assert client.get(f"{API}/config/{app['name']}/{name}").status_code == 404


def test_a_key_written_twice_in_a_put_or_patch_is_422_and_changes_nothing(client, written):
    url = f"{CONFIGS}/{written['id']}"
    put = client.put(url, content='{"name": "x", "config": {"a": {"b": 1, "b": 1}}}', headers=JSON)
    patch = client.patch(url, content='{"config": {"a": 1, "a": null}}', headers=MERGE_PATCH)
    assert [put.status_code, patch.status_code] == [422, 422]
    assert [put.json()["details"][0]["path"], patch.json()["details"][0]["path"]] == ["/a/b", "/a"]
    assert client.get(url).json()["version"] == 1


def test_a_field_of_the_body_written_twice_is_422(client, app, unique):
    raw = f'{{"application_id": "{app["id"]}", "name": "{unique()}", "name": "x", "config": {{}}}}'
    response = client.post(CONFIGS, content=raw, headers=JSON)
    assert response.status_code == 422
    assert response.json()["details"] == [{"location": "body.name", "message": "is written more than once"}]


def test_merge_patch_keeps_the_order_of_existing_keys_and_appends_new_ones(client, written):
    url = f"{CONFIGS}/{written['id']}"
    patch = '{"config": {"new": {"d": 1, "c": 2.50}, "zeta": {"mm": null, "ab": [1], "zz": 2}, "b": null}}'
    response = client.patch(url, content=patch, headers=MERGE_PATCH)
    expected = (
        '{"zeta":{"zz":2,"aa":[{"b":1.50,"a":-0.0}],"ab":[1]},"10":12345678901234567890123,"2":-0,'
        '"alpha":{"y":[3,{"q":null,"p":"x"}],"x":1E-7},"new":{"d":1,"c":2.50}}'
    )
    assert shows(response, expected)
    assert shows(client.get(url), expected)
    assert shows(client.get(f"{url}/versions/2"), expected)


def test_a_change_made_in_the_database_is_read_again_in_order(client, written, database_url):
    """Announced changes are read again from the database (queries/refresh.py)."""
    document = '{"z":1,"a":[{"y":1.50,"b":2}]}'
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE configurations SET document = %s WHERE id = %s", (document, written["id"]))
    finally:
        conn.close()
    url = f"{CONFIGS}/{written['id']}"
    deadline = time.monotonic() + 5
    while client.get(url).json()["version"] != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert shows(client.get(url), document)
    assert client.get(url).json()["config"] == {"z": 1, "a": [{"y": 1.5, "b": 2}]}


def test_another_instance_starting_reads_every_document_in_order(written, database_url):
    """Its snapshot (queries/snapshot.py) renders every view as written."""
    with TestClient(create_app(app_settings(database_url))) as other:
        assert shows(other.get(f"{CONFIGS}/{written['id']}"))
