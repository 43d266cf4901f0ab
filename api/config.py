"""/api/v1/config: what client services read, by name, from memory; conditional, watchable,
and still answering (marked stale) while the database is away."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.auth import needs
from api.conditional import ETAG_HEADER, IF_NONE_MATCH_DOC, not_modified, quoted
from api.errors import error_response, responses
from api.openapi import NOT_MODIFIED
from api.routing import NameSegment, Route
from api.services import among, services
from queries.by_name import Missing
from queries.read_model import ClientRead
from queries.views import ConfigurationBundle, ConfigurationView

STALE_HEADER = {
    "X-Config-Stale": {
        "description": "`true` when the database is away and this is the last version known here",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

router = APIRouter(prefix="/config", tags=["config"], route_class=Route)

ApplicationName = Annotated[str, Path(description="The application's name, percent-encoded"), NameSegment()]
ConfigurationName = Annotated[str, Path(description="The configuration's name, percent-encoded"), NameSegment()]
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
        304: {"description": NOT_MODIFIED[304]["description"] + " (also when a wait ends with no change)"},
        **responses(404, 422, 503),
    },
    "openapi_extra": {"parameters": [IF_NONE_MATCH_DOC]},
    "dependencies": needs("read"),
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
    reads, limit = services(request).reads, among(request)
    return _answer(
        request,
        application_name,
        wait,
        lambda: reads.configuration_by_name(application_name, configuration_name, limit),
        configuration_name,
    )


@router.get(
    "/{application_name}",
    response_model=ConfigurationBundle,
    summary="An application and all its configurations, by name: what a service reads at start-up",
    **DOCS,
)
def get_config_bundle(request: Request, application_name: ApplicationName, wait: Wait = None) -> Awaitable[Response]:
    reads, limit = services(request).reads, among(request)
    return _answer(request, application_name, wait, lambda: reads.bundle(application_name, limit), None)


async def _answer(
    request: Request,
    application: str,
    wait: float | None,
    read: Callable[[], Awaitable[ClientRead]],
    configuration: str | None,
) -> Response:
    answer = await read()
    if wait is not None and not isinstance(answer.found, Missing) and not_modified(request, answer.found.etag):
        reads = services(request).reads
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
