"""The admin console: the static files of console/ at /ui/, and / sending browsers there.

No build step: plain HTML, CSS and JavaScript modules, served as they are, with headers
that keep the page to its own origin (no third-party scripts, no framing).
"""

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from api.auth import PUBLIC
from api.routing import Route
from infra.settings import PROJECT_ROOT

CONSOLE_DIR = PROJECT_ROOT / "console"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class _ConsoleFiles(StaticFiles):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


router = APIRouter(route_class=Route, include_in_schema=False, dependencies=PUBLIC)


# Relative redirects: an absolute one would name this host, which breaks behind a proxy.
@router.get("/")
@router.get("/ui")
async def to_console(request: Request) -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


def mount_console(app: FastAPI) -> None:
    """The console's files at /ui/ (static files: anyone may fetch them; the API they call
    asks for a token), and / and /ui sending browsers there."""
    app.include_router(router)
    app.mount("/ui", _ConsoleFiles(directory=CONSOLE_DIR, html=True), name="console")
    app.routes[-1].access = PUBLIC[0]
