"""/api/v1/config: what client services read, by name, from memory; conditional, watchable,
and still answering (marked stale) while the database is away."""

import math
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import principal, sees
from api.conditional import ETAG_HEADER, IF_NONE_MATCH_DOC, not_modified, quoted
from api.errors import error_response, responses
from api.services import services
from queries.by_name import Missing
from queries.read_model import ClientRead
from queries.views import ConfigurationBundle, ConfigurationView

PREFIX = b"/api/v1/config/"
STALE_HEADER = {
    "X-Config-Stale": {
        "description": "`true` when the database is away and this is the last version known here",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
WAIT_ERROR = "must be a number of seconds from 1 to 60"


class NameRoute(APIRoute):
    """A route of /api/v1/config, matched on the raw path, one name per segment: a name may
    hold '/', '%', '?', '#' or anything else, percent-encoded. It reads its inputs itself
    (the names and `wait`), as the resource routes do, for speed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        endpoint = self.endpoint

        # One frame from the route to the endpoint: a held watch keeps each one alive.
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            response = await endpoint(request, **scope["path_params"], wait=_wait(request))
            await response(scope, receive, send)

        self.app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        raw = scope.get("raw_path") or scope["path"].encode()
        if not raw.startswith(PREFIX):
            return Match.NONE, {}
        segments = raw[len(PREFIX) :].split(b"/")
        if segments[-1] == b"":  # a trailing slash
            segments.pop()
        if len(segments) != len(self.param_convertors):
            return Match.NONE, {}
        try:
            names = [unquote_to_bytes(segment).decode() for segment in segments]
        except UnicodeDecodeError:
            return Match.NONE, {}  # no name is stored that way
        if not all(names) or any("\x00" in name for name in names):
            return Match.NONE, {}  # empty, or holding a NUL that PostgreSQL text cannot
        params = dict(zip(self.param_convertors, names, strict=True))
        child = {"endpoint": self.endpoint, "path_params": params}
        return (Match.FULL if scope["method"] in self.methods else Match.PARTIAL), child


router = APIRouter(prefix="/config", tags=["config"], route_class=NameRoute)


class ClientPathMiddleware:
    """GETs of /api/v1/config, handed to their route directly, past the router and the
    exception middleware, after request ids and access control: the path client services
    read all day, and the one that holds watches (each frame a held request keeps costs
    memory, ten thousand times over). Errors go to the app's own handlers all the same."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/api/v1/config/"):
            for route in router.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    try:
                        await route.app(scope, receive, send)
                    except Exception as exc:
                        handler = _handler_for(scope["app"], exc)
                        if handler is None:
                            raise
                        response = await handler(Request(scope, receive, send), exc)
                        await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _handler_for(app, exc: Exception):
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            return handler
    return None


ApplicationName = Annotated[str, Path(description="The application's name, percent-encoded")]
ConfigurationName = Annotated[str, Path(description="The configuration's name, percent-encoded")]
Wait = Annotated[
    float | None,
    Query(
        ge=1,
        le=60,
        description="With If-None-Match naming the current ETag: hold the request until the view changes "
        "(200), is deleted (404), or this many seconds pass (304)",
    ),
]
DOCS = {
    "responses": {
        200: {"headers": {**ETAG_HEADER, **STALE_HEADER}},
        304: {"description": "Not modified (also when a wait ends with no change)"},
        **responses(404, 422, 503),
    },
    "openapi_extra": {"parameters": [IF_NONE_MATCH_DOC]},
}


@router.get(
    "/{application_name}/{configuration_name}",
    response_model=ConfigurationView,
    summary="A configuration, by its application's name and its own",
    **DOCS,
)
def get_config(
    request: Request, application_name: ApplicationName, configuration_name: ConfigurationName, wait: Wait = None
) -> Awaitable[Response]:
    # Not a coroutine itself: it hands over _answer's, so a held watch keeps one frame less.
    reads = services(request).reads
    return _answer(
        request,
        application_name,
        wait,
        lambda: reads.configuration_by_name(application_name, configuration_name),
        configuration_name,
    )


@router.get(
    "/{application_name}",
    response_model=ConfigurationBundle,
    summary="An application and all its configurations, by name: what a service reads at start-up",
    **DOCS,
)
def get_config_bundle(request: Request, application_name: ApplicationName, wait: Wait = None) -> Awaitable[Response]:
    reads = services(request).reads
    return _answer(request, application_name, wait, lambda: reads.bundle(application_name), None)


async def _answer(
    request: Request,
    application: str,
    wait: float | None,
    read: Callable[[], Awaitable[ClientRead]],
    configuration: str | None,
) -> Response:
    reads = services(request).reads
    read = _visible(request, read)
    answer = await read()
    if wait is not None and not isinstance(answer.found, Missing) and not_modified(request, answer.found.etag):
        answer = await reads.watch(application, read, lambda entry: not_modified(request, entry.etag), wait)
    found = answer.found
    if isinstance(found, Missing):
        if found.what == "application":
            return error_response(request, 404, f"application {application!r} does not exist")
        return error_response(request, 404, f"application {application!r} has no configuration named {configuration!r}")
    headers = {"ETag": quoted(found.etag)}
    if answer.stale:
        headers["X-Config-Stale"] = "true"
    if not_modified(request, found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type="application/json", headers=headers)


def _visible(request: Request, read: Callable[[], Awaitable[ClientRead]]) -> Callable[[], Awaitable[ClientRead]]:
    """`read`, for a token limited to other applications: as if there were no such one."""
    if principal(request).applications is None:
        return read

    async def visible_read() -> ClientRead:
        answer = await read()
        owner = answer.found.application_id  # None when no application was found
        if owner is None or sees(request, owner):
            return answer
        return ClientRead(Missing("application"), answer.stale)

    return visible_read


def _wait(request: Request) -> float | None:
    value = request.query_params.get("wait")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 1 <= seconds <= 60:  # NaN fails too
        error = {"type": "value_error", "loc": ("query", "wait"), "msg": WAIT_ERROR, "input": value}
        raise RequestValidationError([error])
    return seconds
