"""Pages of other sites cannot drive the API: a body must say it is JSON (on every method), an
unsafe method from a foreign Origin is 403 `cross_origin`, only ALLOWED_ORIGINS get CORS
answers, and a Host outside ALLOWED_HOSTS is 421 (DNS rebinding). The browser's side of it:
tests/console/test_cross_site.py."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cross_site import CrossSite
from infra.settings import Settings
from tests.support import app_settings

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
TOOLS = "http://tools.example:8080"  # the origin allowed in `open_to_tools`
EVIL = "http://evil.example"


def error_code(response) -> str:
    return response.json()["code"]


def cors_headers(response) -> dict:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


def app_named(client, name: str) -> bool:
    return any(item["name"] == name for item in client.get(APPS, params={"search": name}).json())


@pytest.fixture
def configuration(client, unique) -> dict:
    application = client.post(APPS, json={"name": unique("site")}).json()
    body = {"application_id": application["id"], "name": "c", "config": {"v": 1}}
    return client.post(CONFIGS, json=body).json()


@pytest.fixture(scope="module")
def open_to_tools(database_url) -> Iterator[TestClient]:
    settings = app_settings(database_url, allowed_origins=TOOLS, allowed_hosts="testserver,.example.com")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def by_default(database_url) -> Iterator[TestClient]:
    """A service with the defaults (a loopback HOST, ALLOWED_HOSTS unset)."""
    with TestClient(create_app(Settings(_env_file=None, database_url=database_url)), base_url="http://localhost") as c:
        yield c


# -- a body is JSON ----------------------------------------------------------------------------


def test_a_body_without_a_content_type_is_415_on_every_method_and_nothing_changes(client, configuration, unique):
    name = unique("blob")
    typeless = f'{{"name": "{name}"}}'.encode()  # what a page's `new Blob([json])` sends
    for method, path in (
        ("POST", APPS),
        ("POST", f"{CONFIGS}/{configuration['id']}/versions/1/restore"),
        ("PUT", f"{CONFIGS}/{configuration['id']}"),
        ("PATCH", f"{CONFIGS}/{configuration['id']}"),
        ("DELETE", f"{CONFIGS}/{configuration['id']}"),
        ("GET", APPS),
    ):
        response = client.request(method, path, content=typeless)
        assert response.status_code == 415, (method, path, response.text)
        assert error_code(response) == "unsupported_media_type"
    assert not app_named(client, name)
    assert client.get(f"{CONFIGS}/{configuration['id']}").json()["version"] == 1


def test_a_chunked_body_without_a_content_type_is_415(client, unique):
    name = unique("chunks")
    response = client.post(APPS, content=iter([f'{{"name": "{name}"}}'.encode()]))
    assert response.status_code == 415
    assert not app_named(client, name)


def test_a_request_without_a_body_needs_no_content_type(client, configuration):
    assert client.delete(f"{CONFIGS}/{configuration['id']}").status_code == 204


def test_a_delete_with_a_json_body_is_served(client, configuration):
    response = client.request("DELETE", f"{CONFIGS}/{configuration['id']}", json={})
    assert response.status_code == 204


# -- Origin ------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [EVIL, "null", "http://testserver:8000", "https://testserver", "http://localhost"])
def test_changes_from_another_origin_are_403_cross_origin_and_change_nothing(client, configuration, unique, origin):
    name = unique("evil")
    foreign = {"Origin": origin}
    path = f"{CONFIGS}/{configuration['id']}"
    for response in (
        client.post(APPS, json={"name": name}, headers=foreign),
        client.put(path, json={"name": "c", "config": {"v": 2}}, headers=foreign),
        client.patch(
            path, content=b'{"config": {"v": 3}}', headers={**foreign, "Content-Type": "application/merge-patch+json"}
        ),
        client.post(f"{path}/versions/1/restore", headers=foreign),
        client.delete(path, headers=foreign),
    ):
        assert response.status_code == 403, (origin, response.request.method, response.text)
        assert error_code(response) == "cross_origin"
        assert cors_headers(response) == {}
    assert not app_named(client, name)
    assert client.get(path).json()["version"] == 1


def test_reads_from_another_origin_are_answered_without_cors_so_its_page_cannot_read_them(client, configuration):
    response = client.get(f"{CONFIGS}/{configuration['id']}", headers={"Origin": EVIL})
    assert response.status_code == 200 and cors_headers(response) == {}


def test_the_services_own_pages_and_requests_without_origin_change_things(client, unique):
    assert client.post(APPS, json={"name": unique("own")}, headers={"Origin": "http://testserver"}).status_code == 201
    assert client.post(APPS, json={"name": unique("cli")}).status_code == 201


def test_behind_tls_the_own_origin_is_https_with_or_without_its_default_port(database_url, unique):
    # The scheme is the request's (as uvicorn serves TLS, or as a trusted proxy forwards it).
    with TestClient(create_app(app_settings(database_url)), base_url="https://testserver") as client:
        for host, origin in (("testserver", "https://testserver"), ("testserver:443", "https://testserver")):
            headers = {"Host": host, "Origin": origin}
            assert client.post(APPS, json={"name": unique("tls")}, headers=headers).status_code == 201, host
        plain = client.post(APPS, json={"name": unique("tls")}, headers={"Origin": "http://testserver"})
        assert plain.status_code == 403


# -- CORS for ALLOWED_ORIGINS ----------------------------------------------------------------------


def test_an_allowed_origin_gets_a_preflight_answer_naming_what_it_may_send(open_to_tools):
    response = open_to_tools.options(
        APPS,
        headers={
            "Origin": TOOLS,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type,if-match",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == TOOLS
    assert response.headers["vary"] == "Origin"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "if-none-match"} <= allowed


def test_an_allowed_origin_may_change_things_and_read_the_answers_and_their_headers(open_to_tools, unique):
    created = open_to_tools.post(APPS, json={"name": unique("tools")}, headers={"Origin": TOOLS})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == TOOLS and created.headers["vary"] == "Origin"
    exposed = {h.strip().lower() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "link", "location", "retry-after", "x-request-id", "x-config-stale"} <= exposed
    refused = open_to_tools.post(APPS, content=b"{}", headers={"Origin": TOOLS})  # errors too
    assert refused.status_code == 415 and refused.headers["access-control-allow-origin"] == TOOLS


def test_no_other_origin_gets_any_cors_header(open_to_tools):
    preflight = open_to_tools.options(APPS, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405 and cors_headers(preflight) == {}
    assert cors_headers(open_to_tools.get(APPS, headers={"Origin": EVIL})) == {}
    assert cors_headers(open_to_tools.get(APPS, headers={"Origin": TOOLS + ".evil.example"})) == {}
    assert open_to_tools.post(APPS, json={"name": "x"}, headers={"Origin": "http://tools.example"}).status_code == 403


# -- Host ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", "10.0.0.1"])
def test_by_default_a_foreign_host_is_421_misdirected_request(by_default, host):
    for path in (APPS, "/ui/", "/openapi.json"):
        response = by_default.get(path, headers={"Host": host})
        assert response.status_code == 421, (host, path)
        assert error_code(response) == "misdirected_request"
        assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST:1"])
def test_by_default_the_loopback_names_are_served_on_any_port(by_default, host):
    assert by_default.get(APPS, headers={"Host": host}).status_code == 200


def test_health_answers_any_host_for_probes_that_name_an_address(by_default):
    assert by_default.get("/health", headers={"Host": "10.0.0.1:8000"}).status_code == 200


def test_allowed_hosts_take_a_domain_and_its_subdomains(open_to_tools):
    for host, status in (
        ("example.com", 200),
        ("config.example.com:8443", 200),
        ("badexample.com", 421),
        ("example.com.evil.example", 421),
    ):
        assert open_to_tools.get(APPS, headers={"Host": host}).status_code == status, host


@pytest.mark.parametrize(
    ("hosts", "service_host", "host", "allowed"),
    [
        (None, "0.0.0.0", "anything.example", True),  # not loopback: any host unless set
        (None, "127.0.0.1", "anything.example", False),
        (None, "127.0.0.2", "127.0.0.2:8000", True),  # the HOST itself
        ("*", "127.0.0.1", "anything.example", True),
        ("config.example.com", "0.0.0.0", "config.example.com.", True),
        ("config.example.com", "0.0.0.0", "other.example.com", False),
        ("::1", "0.0.0.0", "[::1]:80", True),
        ("config.example.com", "0.0.0.0", None, False),  # no Host at all
    ],
)
def test_the_host_rule(hosts, service_host, host, allowed):
    policy = CrossSite.of(Settings(_env_file=None, host=service_host, allowed_hosts=hosts))
    assert (policy.any_host or policy.host_allowed(None if host is None else host.encode())) == allowed
