"""Access control over HTTP with AUTH=tokens: every route of the OpenAPI document, asked with
no token, a malformed one, an unknown one, a revoked one, each scope, and a token limited to
another application; each gets exactly the status the rules say, never a 2xx it should not,
never a 5xx."""

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api import routing
from api.app import create_app
from api.auth import Needs
from commands.tokens import CreateToken, RevokeToken
from infra.database import DatabaseUnavailable
from tests.support import app_settings, perform

API = "/api/v1"
NO_ID = "01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"  # a well-formed id of nothing
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def wait_until(predicate: Callable[[], bool], timeout: float = 5) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"not within {timeout}s"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def secured(database_url) -> Iterator[TestClient]:
    # Every request here comes from one address: the table's 401s must not get it blocked.
    with TestClient(create_app(app_settings(database_url, auth="tokens", auth_failure_limit=10_000))) as client:
        yield client


def make_token(db, client: TestClient, scope: str, applications: tuple[str, ...] | None = None) -> str:
    row = perform(db, CreateToken(f"{scope}-{uuid.uuid4().hex[:8]}", scope, applications))
    # Announced to the instance, which reads its tokens again.
    wait_until(lambda: client.get(f"{API}/tokens/current", headers=bearer(row["secret"])).status_code == 200)
    return row["secret"]


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class World:
    """What a request needs: an application with a configuration of three versions and a
    schema, made by an admin for each request (some requests delete or change them)."""

    app: dict
    config: dict
    other_app: dict  # the one the limited token is limited to


def make_world(client: TestClient, admin: str, other_app: dict) -> World:
    headers = bearer(admin)
    app = client.post(f"{API}/applications", json={"name": f"app-{uuid.uuid4().hex}"}, headers=headers).json()
    config = client.post(
        f"{API}/configurations", json={"application_id": app["id"], "name": "c", "config": {"v": 1}}, headers=headers
    ).json()
    for v in (2, 3):
        client.put(f"{API}/configurations/{config['id']}", json={"name": "c", "config": {"v": v}}, headers=headers)
    client.put(f"{API}/configurations/{config['id']}/schema", json={"type": "object"}, headers=headers)
    return World(app, config, other_app)


@dataclass(frozen=True)
class Route:
    """How to call one operation, what it answers when allowed, and what a token limited to
    another application gets: 'hidden' (404, as if nothing existed), 'filtered' (its usual
    answer, with nothing of other applications), 'no-application' (422: the body names an
    application that does not exist for it), 'forbidden' (403: needs an unlimited token)."""

    scope: str  # read, write, admin; "any": any valid token
    success: int
    limited: str
    request: Callable[[World], tuple[str, str, dict | None, dict]]  # method, url, json, headers


def name_url(world: World, name: str | None = None) -> str:
    url = f"{API}/config/{quote(world.app['name'], safe='')}"
    return url if name is None else f"{url}/{quote(name, safe='')}"


ROUTES: dict[tuple[str, str], Route] = {
    ("get", "/api/v1/applications"): Route("read", 200, "filtered", lambda w: ("GET", f"{API}/applications", None, {})),
    ("post", "/api/v1/applications"): Route(
        "admin", 201, "forbidden", lambda w: ("POST", f"{API}/applications", {"name": uuid.uuid4().hex}, {})
    ),
    ("get", "/api/v1/applications/{id}"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/applications/{w.app['id']}", None, {})
    ),
    ("put", "/api/v1/applications/{id}"): Route(
        "write", 200, "hidden", lambda w: ("PUT", f"{API}/applications/{w.app['id']}", {"name": w.app["name"]}, {})
    ),
    ("patch", "/api/v1/applications/{id}"): Route(
        "write", 200, "hidden", lambda w: ("PATCH", f"{API}/applications/{w.app['id']}", {"comments": "x"}, MERGE_PATCH)
    ),
    ("delete", "/api/v1/applications/{id}"): Route(
        "admin", 409, "hidden", lambda w: ("DELETE", f"{API}/applications/{w.app['id']}", None, {})
    ),
    ("get", "/api/v1/applications/{id}/configurations"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/applications/{w.app['id']}/configurations", None, {})
    ),
    ("post", "/api/v1/configurations"): Route(
        "write",
        201,
        "no-application",
        lambda w: ("POST", f"{API}/configurations", {"application_id": w.app["id"], "name": "n", "config": {}}, {}),
    ),
    ("get", "/api/v1/configurations"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations?application_id={w.app['id']}", None, {})
    ),
    ("get", "/api/v1/configurations/{id}"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}", None, {})
    ),
    ("put", "/api/v1/configurations/{id}"): Route(
        "write",
        200,
        "hidden",
        lambda w: ("PUT", f"{API}/configurations/{w.config['id']}", {"name": "c", "config": {"v": 9}}, {}),
    ),
    ("patch", "/api/v1/configurations/{id}"): Route(
        "write",
        200,
        "hidden",
        lambda w: ("PATCH", f"{API}/configurations/{w.config['id']}", {"config": {"w": 1}}, MERGE_PATCH),
    ),
    ("delete", "/api/v1/configurations/{id}"): Route(
        "write", 204, "hidden", lambda w: ("DELETE", f"{API}/configurations/{w.config['id']}", None, {})
    ),
    ("get", "/api/v1/configurations/{id}/versions"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/versions", None, {})
    ),
    ("get", "/api/v1/configurations/{id}/versions/{version}"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/versions/2", None, {})
    ),
    ("post", "/api/v1/configurations/{id}/versions/{version}/restore"): Route(
        "write",
        200,
        "hidden",
        lambda w: ("POST", f"{API}/configurations/{w.config['id']}/versions/1/restore", None, {}),
    ),
    ("post", "/api/v1/configurations/{id}/rollouts"): Route(
        "write",
        409,
        "hidden",
        lambda w: ("POST", f"{API}/configurations/{w.config['id']}/rollouts", {"version": 2}, {}),
    ),  # the configuration is released immediately
    ("get", "/api/v1/configurations/{id}/rollouts"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/rollouts", None, {})
    ),
    ("get", "/api/v1/configurations/{id}/rollouts/{rollout_id}"): Route(
        "read", 404, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/rollouts/{NO_ID}", None, {})
    ),
    **{
        ("post", f"/api/v1/configurations/{{id}}/rollouts/{{rollout_id}}/{verb}"): Route(
            "write",
            404,
            "hidden",
            lambda w, verb=verb: ("POST", f"{API}/configurations/{w.config['id']}/rollouts/{NO_ID}/{verb}", None, {}),
        )
        for verb in ("pause", "resume", "rollback", "promote")
    },
    ("get", "/api/v1/configurations/{id}/clients"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/clients", None, {})
    ),
    ("get", "/api/v1/applications/{id}/clients"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/applications/{w.app['id']}/clients", None, {})
    ),
    ("post", "/api/v1/config/{application_name}/{configuration_name}/reports"): Route(
        "read",
        202,
        "hidden",
        lambda w: ("POST", name_url(w, "c") + "/reports", {"client_id": "c-1", "version": 3, "ok": True}, {}),
    ),
    ("get", "/api/v1/configurations/{id}/schema"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/schema", None, {})
    ),
    ("put", "/api/v1/configurations/{id}/schema"): Route(
        "write",
        200,
        "hidden",
        lambda w: ("PUT", f"{API}/configurations/{w.config['id']}/schema", {"required": ["v"]}, {}),
    ),
    ("delete", "/api/v1/configurations/{id}/schema"): Route(
        "write", 204, "hidden", lambda w: ("DELETE", f"{API}/configurations/{w.config['id']}/schema", None, {})
    ),
    ("get", "/api/v1/configurations/{id}/schema/versions"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/schema/versions", None, {})
    ),
    ("get", "/api/v1/configurations/{id}/schema/versions/{version}"): Route(
        "read", 200, "hidden", lambda w: ("GET", f"{API}/configurations/{w.config['id']}/schema/versions/1", None, {})
    ),
    ("post", "/api/v1/configurations/{id}/schema/versions/{version}/restore"): Route(
        "write",
        200,
        "hidden",
        lambda w: ("POST", f"{API}/configurations/{w.config['id']}/schema/versions/1/restore", None, {}),
    ),
    ("get", "/api/v1/changes"): Route("read", 200, "filtered", lambda w: ("GET", f"{API}/changes", None, {})),
    ("get", "/api/v1/config/{application_name}"): Route(
        "read", 200, "hidden", lambda w: ("GET", name_url(w), None, {})
    ),
    ("get", "/api/v1/config/{application_name}/{configuration_name}"): Route(
        "read", 200, "hidden", lambda w: ("GET", name_url(w, "c"), None, {})
    ),
    ("get", "/api/v1/tokens"): Route("admin", 200, "forbidden", lambda w: ("GET", f"{API}/tokens", None, {})),
    ("post", "/api/v1/tokens"): Route(
        "admin",
        201,
        "forbidden",
        lambda w: ("POST", f"{API}/tokens", {"name": uuid.uuid4().hex, "scope": "read"}, {}),
    ),
    ("get", "/api/v1/tokens/current"): Route(
        "any", 200, "filtered", lambda w: ("GET", f"{API}/tokens/current", None, {})
    ),
    ("delete", "/api/v1/tokens/{id}"): Route(
        "admin", 404, "forbidden", lambda w: ("DELETE", f"{API}/tokens/01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4", None, {})
    ),
}

RANK = {"read": 0, "write": 1, "admin": 2}
CASES = ["none", "malformed", "unknown", "revoked", "read", "write", "admin", "limited"]


def expected(case: str, route: Route) -> int:
    if case in ("none", "malformed", "unknown", "revoked"):
        return 401
    scope = "admin" if case == "limited" else case
    if route.scope != "any" and RANK[scope] < RANK[route.scope]:
        return 403
    if case == "limited":
        return {"hidden": 404, "no-application": 422, "forbidden": 403, "filtered": route.success}[route.limited]
    return route.success


def test_every_route_answers_each_kind_of_token_exactly_as_the_rules_say(secured, db):
    spec = secured.get("/openapi.json").json()
    documented = {(method, path) for path, item in spec["paths"].items() if path.startswith("/api/") for method in item}
    assert documented == set(ROUTES)  # a new route must be added to this table

    admin = make_token(db, secured, "admin")
    other_app = secured.post(f"{API}/applications", json={"name": f"other-{uuid.uuid4().hex}"}, headers=bearer(admin))
    other_app = other_app.json()
    revoked = make_token(db, secured, "read")
    perform(db, RevokeToken(name=secured.get(f"{API}/tokens/current", headers=bearer(revoked)).json()["name"]))
    wait_until(lambda: secured.get(f"{API}/tokens/current", headers=bearer(revoked)).status_code == 401)
    headers_for = {
        "none": {},
        "malformed": {"Authorization": "Bearer"},
        "unknown": bearer("cfs_" + "x" * 43),
        "revoked": bearer(revoked),
        "read": bearer(make_token(db, secured, "read")),
        "write": bearer(make_token(db, secured, "write")),
        "admin": bearer(admin),
        "limited": bearer(make_token(db, secured, "admin", (other_app["name"],))),
    }

    seen = []
    for (key, route), case in itertools.product(ROUTES.items(), CASES):
        world = make_world(secured, admin, other_app)
        method, url, body, headers = route.request(world)
        response = secured.request(method, url, json=body, headers={**headers, **headers_for[case]})
        seen.append((key, case, response.status_code))
        assert response.status_code == expected(case, route), (key, case, response.text)
        if response.status_code == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        if response.status_code >= 400:
            assert response.json()["code"]  # the error shape
        if case == "limited" and route.limited == "filtered" and response.status_code == 200:
            text = response.text
            assert world.app["id"] not in text and world.config["id"] not in text  # nothing of others
    assert not [s for s in seen if s[2] >= 500]
    assert len(seen) == len(ROUTES) * len(CASES)


def test_health_the_openapi_document_and_docs_stay_open_and_declare_the_bearer_scheme(secured):
    assert secured.get("/health").status_code == 200
    assert secured.get("/docs").status_code == 200
    spec = secured.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], set(scheme)) == ("http", "bearer", {"type", "scheme", "description"})
    assert "pipenv run token create" in scheme["description"]  # it says where a token comes from
    declared = {
        (route.path_format, method.lower()): route.access.scope
        for route in secured.app.routes
        if isinstance(route, routing.Route) and isinstance(route.access, Needs)
        for method in route.methods
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/") or path == "/metrics":
                # Each operation states the scope its route declares (OpenAPI 3.1 role names).
                assert operation["security"] == [{"bearer": [declared[path, method]]}], path
                assert {"401", "403", "429"} <= set(operation["responses"]), path
            else:
                assert "security" not in operation


def test_the_actor_of_a_change_is_the_tokens_name(secured, db):
    admin = make_token(db, secured, "admin")
    name = secured.get(f"{API}/tokens/current", headers=bearer(admin)).json()["name"]
    app = secured.post(f"{API}/applications", json={"name": uuid.uuid4().hex}, headers=bearer(admin)).json()
    mine, after = [], 0
    while True:  # the whole feed, page by page: the session's database holds every test's changes
        page = secured.get(f"{API}/changes", params={"after": after, "limit": 1000}, headers=bearer(admin)).json()
        mine += [c for c in page if c["id"] == app["id"]]
        if len(page) < 1000:
            break
        after = page[-1]["revision"]
    assert [c["actor"] for c in mine] == [name]


def test_tokens_are_made_listed_and_revoked_through_the_api(secured, db):
    admin = bearer(make_token(db, secured, "admin"))
    app = secured.post(f"{API}/applications", json={"name": f"t-{uuid.uuid4().hex}"}, headers=admin).json()
    name = f"reader-{uuid.uuid4().hex[:8]}"

    created = secured.post(
        f"{API}/tokens", json={"name": name, "scope": "read", "applications": [app["name"]]}, headers=admin
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("cfs_") and len(body["secret"]) >= 4 + 43
    assert (body["name"], body["scope"], body["applications"]) == (name, "read", [app["name"]])
    reader = bearer(body["secret"])
    assert secured.get(f"{API}/applications/{app['id']}", headers=reader).status_code == 200  # usable at once
    assert secured.get(f"{API}/tokens/current", headers=reader).json() == {
        "auth": "tokens",
        "id": body["id"],
        "name": name,
        "scope": "read",
        "reveal": False,
        "applications": [app["name"]],
    }

    listed = secured.get(f"{API}/tokens", headers=admin)
    assert body["secret"] not in listed.text and "secret" not in listed.text
    assert name in [t["name"] for t in listed.json()]
    again = secured.post(f"{API}/tokens", json={"name": name, "scope": "read"}, headers=admin)
    assert again.status_code == 409
    unknown = secured.post(
        f"{API}/tokens", json={"name": "x", "scope": "read", "applications": ["nope-x"]}, headers=admin
    )
    assert unknown.status_code == 422 and "nope-x" in unknown.json()["details"][0]["message"]

    assert secured.delete(f"{API}/tokens/{body['id']}", headers=admin).status_code == 204
    assert secured.get(f"{API}/applications/{app['id']}", headers=reader).status_code == 401
    assert secured.delete(f"{API}/tokens/{body['id']}", headers=admin).status_code == 404


def test_a_limited_token_sees_only_its_applications_in_lists_the_feed_and_by_name(secured, db):
    admin = bearer(make_token(db, secured, "admin"))
    mine, theirs = (
        secured.post(f"{API}/applications", json={"name": f"{label}-{uuid.uuid4().hex}"}, headers=admin).json()
        for label in ("mine", "theirs")
    )
    for app in (mine, theirs):
        secured.post(
            f"{API}/configurations", json={"application_id": app["id"], "name": "c", "config": {}}, headers=admin
        )
    limited = bearer(make_token(db, secured, "write", (mine["name"],)))

    listed = secured.get(f"{API}/applications", params={"limit": 1000}, headers=limited).json()
    assert [a["id"] for a in listed] == [mine["id"]]
    feed = secured.get(f"{API}/changes", params={"limit": 1000}, headers=limited).json()
    assert {c["application_id"] for c in feed} == {mine["id"]}
    assert secured.get(f"{API}/config/{quote(mine['name'])}/c", headers=limited).status_code == 200
    hidden = secured.get(f"{API}/config/{quote(theirs['name'])}/c", headers=limited)
    assert hidden.status_code == 404 and hidden.json()["message"] == f"application {theirs['name']!r} does not exist"
    # Nor does asking for a configuration it does not have tell that the application exists.
    absent = secured.get(f"{API}/config/{quote(theirs['name'])}/absent", headers=limited)
    assert absent.status_code == 404 and absent.json()["message"] == f"application {theirs['name']!r} does not exist"
    # A stale If-Match on a hidden configuration tells nothing either: 404, not 412.
    theirs_config = secured.get(f"{API}/applications/{theirs['id']}", headers=admin).json()["configuration_ids"][0]
    response = secured.put(
        f"{API}/configurations/{theirs_config}",
        json={"name": "c", "config": {}},
        headers={**limited, "If-Match": '"1"'},
    )
    assert response.status_code == 404


def test_a_limited_token_may_change_its_applications_comments_but_not_rename_one(secured, db):
    """Names are unique across all applications: a 409 on a rename would tell a limited token
    which names exist outside its limit, so it gets 403 for any rename, taken name or free."""
    admin = bearer(make_token(db, secured, "admin"))
    mine, theirs = (
        secured.post(f"{API}/applications", json={"name": f"{label}-{uuid.uuid4().hex}"}, headers=admin).json()
        for label in ("mine", "theirs")
    )
    limited = bearer(make_token(db, secured, "write", (mine["name"],)))
    url = f"{API}/applications/{mine['id']}"
    merge = {**limited, "Content-Type": "application/merge-patch+json"}

    for name in (theirs["name"], f"free-{uuid.uuid4().hex}"):
        put = secured.put(url, json={"name": name}, headers=limited)
        patch = secured.patch(url, content=json.dumps({"name": name}), headers=merge)
        assert (put.status_code, patch.status_code) == (403, 403), (put.text, patch.text)
        assert put.json()["code"] == "forbidden"
    assert secured.get(url, headers=admin).json()["name"] == mine["name"]

    kept = secured.put(url, json={"name": mine["name"], "comments": "mine"}, headers=limited)
    assert kept.status_code == 200 and kept.json()["comments"] == "mine"
    patched = secured.patch(url, content=json.dumps({"comments": "still mine"}), headers=merge)
    assert patched.status_code == 200 and patched.json()["comments"] == "still mine"


def test_a_new_token_is_in_force_here_at_once_without_reading_the_tokens_again(database_url, db, monkeypatch):
    with TestClient(create_app(app_settings(database_url, auth="tokens"))) as client:
        admin = bearer(make_token(db, client, "admin"))
        database = client.app.state.services.db

        def unavailable(*args):
            raise DatabaseUnavailable("no reads after the commit")

        monkeypatch.setattr(database, "query", unavailable)
        created = client.post(f"{API}/tokens", json={"name": f"t-{uuid.uuid4().hex}", "scope": "read"}, headers=admin)
        assert created.status_code == 201 and created.json()["secret"].startswith("cfs_")
        reader = bearer(created.json()["secret"])
        assert client.get(f"{API}/tokens/current", headers=reader).status_code == 200  # no wait: the write said so
        assert client.delete(f"{API}/tokens/{created.json()['id']}", headers=admin).status_code == 204
        assert client.get(f"{API}/tokens/current", headers=reader).status_code == 401
        monkeypatch.undo()


def test_checking_a_token_costs_no_database_round_trip(secured, db, monkeypatch):
    reader = bearer(make_token(db, secured, "read"))
    admin = bearer(make_token(db, secured, "admin"))
    app = secured.post(f"{API}/applications", json={"name": f"held-{uuid.uuid4().hex}"}, headers=admin).json()
    url = f"{API}/applications/{app['id']}"
    assert secured.get(url, headers=reader).status_code == 200  # held from now on

    database = secured.app.state.services.db
    round_trips = []
    for method in ("query", "write"):
        original = getattr(database, method)
        monkeypatch.setattr(
            database, method, lambda *args, _original=original: round_trips.append(args) or _original(*args)
        )
    for _ in range(20):
        assert secured.get(url, headers=reader).status_code == 200
    assert secured.get(url, headers=bearer("cfs_unknown")).status_code == 401
    assert round_trips == []


def test_revocation_takes_effect_on_another_instance_within_a_second(secured, database_url, db):
    with TestClient(create_app(app_settings(database_url, auth="tokens"))) as other:
        row = perform(db, CreateToken(f"short-{uuid.uuid4().hex[:8]}", "read"))
        headers = bearer(row["secret"])
        wait_until(lambda: other.get(f"{API}/applications", headers=headers).status_code == 200)
        admin = bearer(make_token(db, secured, "admin"))

        assert secured.delete(f"{API}/tokens/{row['id']}", headers=admin).status_code == 204
        elapsed = wait_until(lambda: other.get(f"{API}/applications", headers=headers).status_code == 401, timeout=1)
    assert elapsed < 1


def test_repeated_failures_from_one_address_get_429_with_retry_after(database_url, db):
    with TestClient(create_app(app_settings(database_url, auth="tokens"))) as client:
        statuses = [client.get(f"{API}/applications", headers=bearer(f"cfs_wrong{n}")).status_code for n in range(25)]
        assert statuses[:20] == [401] * 20 and statuses[20:] == [429] * 5
        refused = client.get(f"{API}/applications")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 30
        assert refused.json()["code"] == "too_many_requests"
        assert client.get("/health").status_code == 200  # never a 5xx, and what is open stays open
        # A valid token still passes from that address (others may share it behind a proxy).
        reader = make_token(db, client, "read")
        assert client.get(f"{API}/applications", headers=bearer(reader)).status_code == 200
