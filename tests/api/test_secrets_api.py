"""Secret values over HTTP: marked by JSON Pointers, masked in every admin view unless the token
may see them, shown on /config to the client service's own token, kept when "********" comes
back, never in an error message."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from commands.tokens import CreateToken
from infra.keyring import create_key_file
from tests.api.test_access_control import bearer, wait_until
from tests.support import app_settings, perform

API = "/api/v1"
MASK = "********"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "secrets.key"
    create_key_file(path)
    return path


@pytest.fixture(scope="module")
def secured(database_url, key_file) -> Iterator[TestClient]:
    settings = app_settings(database_url, auth="tokens", auth_failure_limit=10_000, secrets_keys=key_file)
    with TestClient(create_app(settings)) as client:
        yield client


class Tokens:
    """One token of each kind that matters here."""

    def __init__(self, db, client: TestClient, app_name: str, other_app_name: str) -> None:
        def make(scope: str, applications=None, reveal=False) -> dict:
            row = perform(db, CreateToken(f"{scope}-{uuid.uuid4().hex[:8]}", scope, applications, reveal=reveal))
            headers = bearer(row["secret"])
            wait_until(lambda: client.get(f"{API}/tokens/current", headers=headers).status_code == 200)
            return headers

        self.admin = make("admin")  # may change everything, sees no secret value
        self.revealer = make("admin", reveal=True)
        self.reader = make("read")  # an operator's read token: no secret value
        self.client = make("read", (app_name,))  # the client service's own token
        self.other_client = make("read", (other_app_name,))
        self.reveal_reader = make("read", reveal=True)


@pytest.fixture(scope="module")
def world(db, secured) -> tuple[dict, Tokens]:
    names = [f"app-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    bootstrap = perform(db, CreateToken(f"boot-{uuid.uuid4().hex[:8]}", "admin"))
    headers = bearer(bootstrap["secret"])
    wait_until(lambda: secured.get(f"{API}/tokens/current", headers=headers).status_code == 200)
    apps = [secured.post(f"{API}/applications", json={"name": name}, headers=headers).json() for name in names]
    return apps[0], Tokens(db, secured, names[0], names[1])


def stored_document(database_url: str, id: str) -> str:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT document::text FROM configurations WHERE id = %s", (id,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def create(client, tokens, app, config, secrets=("/db/password",), name=None) -> dict:
    body = {"application_id": app["id"], "name": name or f"c-{uuid.uuid4().hex[:8]}", "config": config}
    if secrets is not None:
        body["secrets"] = list(secrets)
    response = client.post(f"{API}/configurations", json=body, headers=tokens.admin)
    assert response.status_code == 201, response.text
    return response.json()


def secret_config(password: str) -> dict:
    return {"db": {"host": "db.internal", "password": password, "pool": 1.50}, "feature": True}


def test_a_secret_is_stored_sealed_and_answered_masked(secured, world, database_url):
    app, tokens = world
    password = f"pw-{uuid.uuid4().hex}"
    created = create(secured, tokens, app, secret_config(password))

    assert created["secrets"] == ["/db/password"]
    assert created["config"] == {"db": {"host": "db.internal", "password": MASK, "pool": 1.5}, "feature": True}
    stored = stored_document(database_url, created["id"])
    assert password not in stored and '"password":"$sealed:v1:' in stored


def test_a_secret_value_comes_back_exactly_as_written(secured, world, database_url):
    app, tokens = world
    raw = (
        f'{{"application_id":"{app["id"]}","name":"w-{uuid.uuid4().hex[:6]}",'
        '"config":{"z":1.50,"key":{"b":1e2,"a":[1.0,"x"]},"y":-0},"secrets":["/key"]}'
    )
    headers = {**tokens.admin, "Content-Type": "application/json"}
    created = secured.post(f"{API}/configurations", content=raw, headers=headers).json()
    assert '"z":1.50' in stored_document(database_url, created["id"])  # what is not secret stays as written
    shown = secured.get(f"{API}/configurations/{created['id']}", headers=tokens.revealer)
    assert '"config":{"z":1.50,"key":{"b":1e2,"a":[1.0,"x"]},"y":-0}' in shown.text


@pytest.mark.parametrize(
    ("who", "shown"),
    [("admin", False), ("reader", False), ("revealer", True), ("reveal_reader", True), ("client", False)],
)
def test_admin_views_show_secret_values_only_to_reveal_tokens(secured, world, who, shown):
    app, tokens = world
    password = f"pw-{uuid.uuid4().hex}"
    created = create(secured, tokens, app, secret_config(password))
    id = created["id"]
    secured.put(
        f"{API}/configurations/{id}",
        json={"name": created["name"], "config": {"db": {"password": "v2"}}},
        headers=tokens.admin,
    ).raise_for_status()
    headers = getattr(tokens, who)
    expected = password if shown else MASK

    one = secured.get(f"{API}/configurations/{id}", headers=headers)
    assert one.status_code == 200 and one.json()["config"]["db"]["password"] == ("v2" if shown else MASK)
    pages = [
        secured.get(f"{API}/applications/{app['id']}/configurations?limit=1000", headers=headers),
        secured.get(f"{API}/configurations?application_id={app['id']}&limit=1000", headers=headers),
    ]
    for page in pages:
        assert page.status_code == 200
        (item,) = [c for c in page.json() if c["id"] == id]
        assert item["config"]["db"]["password"] == ("v2" if shown else MASK)
    history = secured.get(f"{API}/configurations/{id}/versions", headers=headers).json()
    assert [v["config"]["db"]["password"] for v in history] == (["v2", password] if shown else [MASK, MASK])
    version = secured.get(f"{API}/configurations/{id}/versions/1", headers=headers).json()
    assert version["config"]["db"]["password"] == expected and version["secrets"] == ["/db/password"]


@pytest.mark.parametrize(
    ("who", "shown"),
    [("client", True), ("reveal_reader", True), ("revealer", True), ("reader", False), ("admin", False)],
)
def test_config_shows_secret_values_to_the_client_services_own_token(secured, world, who, shown):
    app, tokens = world
    password = f"pw-{uuid.uuid4().hex}"
    created = create(secured, tokens, app, secret_config(password))
    headers = getattr(tokens, who)
    expected = password if shown else MASK

    one = secured.get(f"{API}/config/{app['name']}/{created['name']}", headers=headers)
    assert one.status_code == 200 and one.json()["config"]["db"]["password"] == expected
    again = secured.get(f"{API}/config/{app['name']}/{created['name']}", headers=headers)  # from memory
    assert again.json()["config"]["db"]["password"] == expected
    bundle = secured.get(f"{API}/config/{app['name']}", headers=headers)
    assert bundle.status_code == 200
    (view,) = [c for c in bundle.json()["configurations"] if c["id"] == created["id"]]
    assert view["config"]["db"]["password"] == expected
    # A token limited to another application does not see the application at all.
    other = secured.get(f"{API}/config/{app['name']}/{created['name']}", headers=tokens.other_client)
    assert other.status_code == 404


def test_a_masked_document_sent_back_keeps_the_stored_values(secured, world):
    app, tokens = world
    password = f"pw-{uuid.uuid4().hex}"
    created = create(secured, tokens, app, secret_config(password))
    id, name = created["id"], created["name"]

    # An editor that never saw the value sends the masked document back, with another change.
    masked = secured.get(f"{API}/configurations/{id}", headers=tokens.admin).json()["config"]
    masked["feature"] = False
    put = secured.put(f"{API}/configurations/{id}", json={"name": name, "config": masked}, headers=tokens.admin)
    assert put.status_code == 200 and put.json()["config"]["db"]["password"] == MASK
    shown = secured.get(f"{API}/configurations/{id}", headers=tokens.revealer).json()
    assert shown["config"] == {**secret_config(password), "feature": False} and shown["version"] == 2
    assert shown["secrets"] == ["/db/password"]  # a PUT without `secrets` keeps them

    patch = secured.patch(
        f"{API}/configurations/{id}",
        json={"config": {"db": {"password": MASK, "host": "db2.internal"}}},
        headers={**tokens.admin, **MERGE_PATCH},
    )
    assert patch.status_code == 200, patch.text
    shown = secured.get(f"{API}/configurations/{id}", headers=tokens.revealer).json()
    assert shown["config"]["db"] == {"host": "db2.internal", "password": password, "pool": 1.5}

    # A changed value replaces it.
    new = f"new-{uuid.uuid4().hex}"
    secured.patch(
        f"{API}/configurations/{id}",
        json={"config": {"db": {"password": new}}},
        headers={**tokens.admin, **MERGE_PATCH},
    ).raise_for_status()
    assert secured.get(f"{API}/configurations/{id}", headers=tokens.revealer).json()["config"]["db"]["password"] == new


def test_the_etag_changes_when_a_secret_changes_even_for_those_who_see_it_masked(secured, world):
    app, tokens = world
    created = create(secured, tokens, app, secret_config("one"))
    id, name = created["id"], created["name"]
    paths = [f"{API}/configurations/{id}", f"{API}/config/{app['name']}/{name}", f"{API}/config/{app['name']}"]
    before = [secured.get(path, headers=tokens.reader) for path in paths]

    secured.patch(
        f"{API}/configurations/{id}",
        json={"config": {"db": {"password": "two"}}},
        headers={**tokens.admin, **MERGE_PATCH},
    ).raise_for_status()

    for path, old in zip(paths, before, strict=True):
        after = secured.get(path, headers={**tokens.reader, "If-None-Match": old.headers["ETag"]})
        assert after.status_code == 200, path
        assert after.headers["ETag"] != old.headers["ETag"]


def test_a_secret_object_is_masked_as_one_value(secured, world):
    app, tokens = world
    created = create(secured, tokens, app, {"db": {"user": "u", "password": "p"}, "x": 1}, secrets=["/db"])
    assert created["config"] == {"db": MASK, "x": 1}
    shown = secured.get(f"{API}/configurations/{created['id']}", headers=tokens.revealer).json()
    assert shown["config"] == {"db": {"user": "u", "password": "p"}, "x": 1}


def test_marking_a_path_seals_it_in_every_earlier_version(secured, world, database_url):
    app, tokens = world
    password = f"pw-{uuid.uuid4().hex}"
    created = create(secured, tokens, app, secret_config(password), secrets=None)
    id = created["id"]
    assert created["secrets"] == [] and created["config"]["db"]["password"] == password
    secured.put(
        f"{API}/configurations/{id}",
        json={"name": created["name"], "config": secret_config(password + "-2")},
        headers=tokens.admin,
    ).raise_for_status()

    marked = secured.patch(
        f"{API}/configurations/{id}", json={"secrets": ["/db/password"]}, headers={**tokens.admin, **MERGE_PATCH}
    )

    assert marked.status_code == 200 and marked.json()["config"]["db"]["password"] == MASK
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT version, document::text, secrets FROM configuration_versions WHERE configuration_id = %s "
                "ORDER BY version",
                (id,),
            )
            versions = cur.fetchall()
            cur.execute("SELECT count(*) FROM changes WHERE id = %s", (id,))
            changes = cur.fetchone()[0]
    finally:
        conn.close()
    assert [v for v, _, _ in versions] == [1, 2, 3] and changes == 3  # resealing is no change
    assert all(password not in document and secrets == ["/db/password"] for _, document, secrets in versions)
    history = secured.get(f"{API}/configurations/{id}/versions", headers=tokens.admin).json()
    assert {v["config"]["db"]["password"] for v in history} == {MASK}
    shown = secured.get(f"{API}/configurations/{id}/versions/1", headers=tokens.revealer).json()
    assert shown["config"]["db"]["password"] == password


def test_unmarking_a_path_stores_its_value_in_clear_again(secured, world, database_url):
    app, tokens = world
    created = create(secured, tokens, app, secret_config("was-secret"))
    put = secured.put(
        f"{API}/configurations/{created['id']}",
        json={"name": created["name"], "config": created["config"], "secrets": []},
        headers=tokens.admin,
    )
    assert put.status_code == 200 and put.json()["config"]["db"]["password"] == "was-secret"
    assert '"password":"was-secret"' in stored_document(database_url, created["id"])


def test_restoring_a_version_brings_back_its_secrets(secured, world):
    app, tokens = world
    created = create(secured, tokens, app, secret_config("first"))
    id = created["id"]
    secured.put(
        f"{API}/configurations/{id}",
        json={"name": created["name"], "config": {"plain": 1}, "secrets": []},
        headers=tokens.admin,
    ).raise_for_status()

    restored = secured.post(f"{API}/configurations/{id}/versions/1/restore", headers=tokens.admin)

    assert restored.status_code == 200
    assert restored.json()["secrets"] == ["/db/password"] and restored.json()["config"]["db"]["password"] == MASK
    shown = secured.get(f"{API}/configurations/{id}", headers=tokens.revealer).json()
    assert shown["config"]["db"]["password"] == "first"


@pytest.mark.parametrize(
    ("secrets", "says"),
    [(["db/password"], "starts with /"), ([""], "whole document"), (["/a~2b"], "~ is followed by 0 or 1")],
)
def test_a_pointer_that_is_not_one_is_422(secured, world, secrets, says):
    app, tokens = world
    body = {"application_id": app["id"], "name": "bad", "config": {"a": 1}, "secrets": secrets}
    response = secured.post(f"{API}/configurations", json=body, headers=tokens.admin)
    assert response.status_code == 422
    assert says in response.json()["details"][0]["message"]


def test_a_mask_with_nothing_to_keep_is_422(secured, world):
    app, tokens = world
    body = {"application_id": app["id"], "name": "m", "config": {"db": {"password": MASK}}, "secrets": ["/db/password"]}
    response = secured.post(f"{API}/configurations", json=body, headers=tokens.admin)
    assert response.status_code == 422 and "no value to keep" in response.text


def test_a_schema_violation_at_a_secret_path_says_where_not_what(secured, world):
    app, tokens = world
    password = f"short-{uuid.uuid4().hex[:4]}"
    created = create(secured, tokens, app, secret_config("long-enough-password-1234"))
    id = created["id"]
    schema = {
        "type": "object",
        "properties": {
            "db": {
                "type": "object",
                "properties": {"password": {"type": "string", "minLength": 20, "pattern": "^long"}},
                "maxProperties": 3,
            }
        },
    }
    secured.put(f"{API}/configurations/{id}/schema", json=schema, headers=tokens.admin).raise_for_status()

    response = secured.patch(
        f"{API}/configurations/{id}",
        json={"config": {"db": {"password": password, "extra": "x"}}},
        headers={**tokens.admin, **MERGE_PATCH},
    )

    assert response.status_code == 422 and response.json()["code"] == "schema_violation"
    assert password not in response.text
    # Where, and which keyword: at the secret value, and at the object that holds it (whose
    # message would quote it whole).
    found = {(d["path"], d["keyword"]) for d in response.json()["details"]}
    assert found == {("/db/password", "minLength"), ("/db/password", "pattern"), ("/db", "maxProperties")}


def test_a_schema_marks_properties_secret_with_x_secret(secured, world, database_url):
    app, tokens = world
    token = f"tok-{uuid.uuid4().hex}"
    created = create(secured, tokens, app, {"api": {"token": token, "url": "https://x"}}, secrets=None)
    schema = {"type": "object", "properties": {"api": {"properties": {"token": {"type": "string", "x-secret": True}}}}}

    set_schema = secured.put(f"{API}/configurations/{created['id']}/schema", json=schema, headers=tokens.admin)

    assert set_schema.status_code == 200
    now = secured.get(f"{API}/configurations/{created['id']}", headers=tokens.admin).json()
    assert now["secrets"] == ["/api/token"] and now["config"]["api"]["token"] == MASK
    assert token not in stored_document(database_url, created["id"])


def test_without_a_key_marking_a_secret_is_refused(client, world):
    app, _ = world
    body = {"application_id": app["id"], "name": "nokey", "config": {"p": "x"}, "secrets": ["/p"]}
    response = client.post(f"{API}/configurations", json=body)
    assert response.status_code == 422 and "SECRETS_KEYS" in response.text
    assert client.get(f"{API}/config/{app['name']}/nokey").status_code == 404  # nothing was stored


def test_tokens_say_whether_they_may_see_secret_values(secured, world):
    _, tokens = world
    assert secured.get(f"{API}/tokens/current", headers=tokens.revealer).json()["reveal"] is True
    assert secured.get(f"{API}/tokens/current", headers=tokens.admin).json()["reveal"] is False
    listed = {t["name"]: t["reveal"] for t in secured.get(f"{API}/tokens", headers=tokens.admin).json()}
    assert True in listed.values() and False in listed.values()
    made = secured.post(
        f"{API}/tokens",
        json={"name": f"r-{uuid.uuid4().hex[:6]}", "scope": "read", "reveal": True},
        headers=tokens.admin,
    )
    assert made.status_code == 201 and made.json()["reveal"] is True
    not_a_boolean = secured.post(
        f"{API}/tokens", json={"name": f"r-{uuid.uuid4().hex[:6]}", "scope": "read", "reveal": 1}, headers=tokens.admin
    )
    assert not_a_boolean.status_code == 422


def test_a_staged_configuration_serves_its_live_versions_secrets_by_token_kind(secured, world):
    app, tokens = world
    body = {
        "application_id": app["id"],
        "name": f"staged-{uuid.uuid4().hex[:6]}",
        "config": secret_config("live-one"),
        "secrets": ["/db/password"],
        "release": "staged",
    }
    created = secured.post(f"{API}/configurations", json=body, headers=tokens.admin).json()
    secured.put(
        f"{API}/configurations/{created['id']}",
        json={"name": created["name"], "config": secret_config("not-live-yet")},
        headers=tokens.admin,
    ).raise_for_status()
    path = f"{API}/config/{app['name']}/{created['name']}"

    for who, expected in (("client", "live-one"), ("reader", MASK), ("reveal_reader", "live-one")):
        for _ in range(2):  # read, then from memory
            served = secured.get(path, headers={**getattr(tokens, who), "X-Client-Id": "host-1"})
            assert served.status_code == 200 and served.json()["version"] == 1
            assert served.json()["config"]["db"]["password"] == expected, who


def test_the_answer_to_a_change_shows_the_values_to_a_reveal_token(secured, world):
    app, tokens = world
    body = {"application_id": app["id"], "name": f"r-{uuid.uuid4().hex[:6]}", "config": secret_config("a")}
    created = secured.post(f"{API}/configurations", json={**body, "secrets": ["/db/password"]}, headers=tokens.revealer)
    assert created.status_code == 201 and created.json()["config"]["db"]["password"] == "a"
    changed = secured.patch(
        f"{API}/configurations/{created.json()['id']}",
        json={"config": {"db": {"password": "b"}}},
        headers={**tokens.revealer, **MERGE_PATCH},
    )
    assert changed.json()["config"]["db"]["password"] == "b"
