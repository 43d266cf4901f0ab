"""The API's interactive reference at /docs, with nothing loaded from another host.

Swagger UI comes from the `swagger-ui-bundle` package and is served from here under the
console's content security policy, so /docs works without internet and a page that can hold the
console's token talks to this origin only. Its start-up script is a file (docs.js), not an
inline script, which that policy (script-src 'self') would refuse. None of the service's
packages carries Redoc, and none is added for it: /redoc sends browsers to /docs instead.
"""

import html
import json
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from swagger_ui_bundle import swagger_ui_path

from api.auth import PUBLIC
from api.console import SECURITY_HEADERS
from api.routing import Route

SWAGGER_UI = Path(str(swagger_ui_path))
# Only what the page loads: the package also holds an index.html with an inline script, an
# OAuth helper page and source maps, none of which this service needs to serve.
ASSETS = {
    "swagger-ui.css": SWAGGER_UI / "swagger-ui.css",
    "swagger-ui-bundle.js": SWAGGER_UI / "swagger-ui-bundle.js",
    "docs.js": Path(__file__).with_name("docs.js"),
}
HEADERS = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>{title} · API reference</title>
  <link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <script src="/docs/swagger-ui-bundle.js" defer></script>
  <script src="/docs/docs.js" defer></script>
</head>
<body>
  <div id="swagger-ui" data-openapi="/docs/openapi.json"></div>
  <noscript><p>The API reference needs JavaScript; the document itself is at /openapi.json.</p></noscript>
</body>
</html>
"""


def mount_docs(app: FastAPI) -> None:
    """/docs and its files, /redoc sending browsers there; create the app with docs_url=None and
    redoc_url=None so FastAPI's own pages (which load Swagger UI and Redoc from a CDN) are not
    added."""
    page = PAGE.format(title=html.escape(app.title)).encode()
    document: list[bytes] = []  # built on first use: routes may still be added after this call
    router = APIRouter(route_class=Route, include_in_schema=False, dependencies=PUBLIC)

    @router.get("/docs")
    async def docs_page(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=HEADERS)

    @router.get("/docs/openapi.json")
    async def docs_document(request: Request) -> Response:
        if not document:
            document.append(json.dumps(openapi_30(app.openapi())).encode())
        return Response(document[0], media_type="application/json", headers=HEADERS)

    @router.get("/docs/{name}")
    async def docs_file(request: Request, name: str) -> Response:
        path = ASSETS.get(name)
        if path is None:
            raise HTTPException(404, "not found")
        return FileResponse(path, headers=HEADERS)

    # Relative, like the console's: an absolute redirect would name this host.
    @router.get("/redoc")
    async def redoc(request: Request) -> RedirectResponse:
        return RedirectResponse("/docs", status_code=307)

    app.include_router(router)


def openapi_30(document: dict) -> dict:
    """The OpenAPI 3.1 document as Swagger UI 4 reads it. swagger-ui-bundle carries Swagger UI
    4.15.5, which refuses any `openapi` but 3.0.x; for this document the two versions differ only
    in how a schema allows null (3.1: `anyOf` with `{"type": "null"}`; 3.0: `nullable`) and gives
    examples (3.1: a list `examples`; 3.0: one `example`). /openapi.json itself stays 3.1."""
    return {**_as_30(document), "openapi": "3.0.3"}


def _as_30(node: object) -> object:
    if isinstance(node, list):
        return [_as_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _as_30(value) for key, value in node.items()}
    if isinstance(node.get("examples"), list):  # a media type's `examples` is a map: kept
        examples = node.pop("examples")
        if examples:
            node.setdefault("example", examples[0])
    alternatives = node.get("anyOf")
    if isinstance(alternatives, list) and {"type": "null"} in alternatives:
        others = [schema for schema in node.pop("anyOf") if schema != {"type": "null"}]
        if len(others) == 1 and "$ref" not in others[0]:
            node = {**others[0], **node}
        elif others:
            # 3.0 ignores whatever stands beside a $ref: wrap it.
            node["allOf" if len(others) == 1 else "anyOf"] = others
        node["nullable"] = True
    return node
