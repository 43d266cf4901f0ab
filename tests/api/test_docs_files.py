"""/docs and its files as any HTTP client sees them: served from here under the console's policy,
naming no other host; /redoc sends browsers to /docs. (tests/console/test_docs.py opens the page.)"""

import re

from api.console import SECURITY_HEADERS
from api.docs import openapi_30

POLICY = dict(SECURITY_HEADERS)[b"content-security-policy"].decode()
ABSOLUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def test_the_docs_page_loads_its_files_from_this_service_only(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert ABSOLUTE_URL.search(page.text) is None
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("docs.js", "javascript"), ("swagger-ui.css", "css")):
        asset = client.get(f"/docs/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"], name
        assert asset.headers["content-security-policy"] == POLICY, name
        assert f'="/docs/{name}"' in page.text, name


def test_only_the_files_the_page_needs_are_served(client):
    for name in ("index.html", "oauth2-redirect.html", "swagger-ui-bundle.js.map", "..%2Fdocs.py", "nothing"):
        assert client.get(f"/docs/{name}").status_code == 404, name


def test_redoc_sends_browsers_to_docs_with_a_relative_location(client):
    response = client.get("/redoc", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/docs"


def test_the_docs_page_reads_the_same_operations_as_openapi_3_0(client):
    document = client.get("/openapi.json").json()
    for_docs = client.get("/docs/openapi.json")
    assert for_docs.headers["content-security-policy"] == POLICY
    assert document["openapi"].startswith("3.1.") and for_docs.json()["openapi"] == "3.0.3"
    assert for_docs.json()["paths"].keys() == document["paths"].keys()
    assert "/docs" not in document["paths"] and "/redoc" not in document["paths"]
    assert '{"type": "null"}' not in for_docs.text and '"nullable": true' in for_docs.text


def test_null_alternatives_become_nullable_and_example_lists_one_example():
    document = {
        "openapi": "3.1.0",
        "components": {
            "schemas": {
                "Thing": {
                    "properties": {
                        "comments": {
                            "anyOf": [{"type": "string", "maxLength": 9}, {"type": "null"}],
                            "title": "Comments",
                            "examples": ["a", "b"],
                        },
                        "parent": {"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"type": "null"}]},
                        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
                        "examples": {"type": "string"},
                    }
                }
            }
        },
        "paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {"examples": {"a": {}}}}}}}}},
    }
    converted = openapi_30(document)
    assert converted["openapi"] == "3.0.3"
    properties = converted["components"]["schemas"]["Thing"]["properties"]
    assert properties["comments"] == {
        "type": "string",
        "maxLength": 9,
        "title": "Comments",
        "example": "a",
        "nullable": True,
    }
    assert properties["parent"] == {"allOf": [{"$ref": "#/components/schemas/Thing"}], "nullable": True}
    assert properties["either"] == {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}
    assert properties["examples"] == {"type": "string"}  # a property that happens to be named so
    assert converted["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"] == {"examples": {"a": {}}}
    assert document["openapi"] == "3.1.0"  # the app's own document is not changed
