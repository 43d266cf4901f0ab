"""/api/v1/config: what client services read, by name, from memory; conditional, watchable,
and still answering (marked stale) while the database is away."""

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import Field

from api.auth import needs
from api.conditional import ETAG_HEADER, IF_NONE_MATCH_DOC, not_modified, quoted
from api.errors import error_response, responses
from api.openapi import NOT_MODIFIED
from api.responses import JSONBytes
from api.routing import NameSegment, Route, header
from api.schemas import INT4, ClientId, _Body
from api.services import among, caller, reveals_to_client, services
from commands.reports import ReportOutcome
from queries.by_name import Missing
from queries.client_path import ClientRead
from queries.held_views import Entry
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
CLIENT_ID_DOC = {
    "name": "X-Client-Id",
    "in": "header",
    "required": False,
    "description": "Who the client is (1 to 128 visible ASCII characters): a staged configuration's rollout "
    "gives each client its version by it, and the fleet view lists it",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
}
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,128}")
DOCS = {
    "responses": {
        200: {"headers": {**ETAG_HEADER, **STALE_HEADER}},
        304: {"description": NOT_MODIFIED[304]["description"] + " (also when a wait ends with no change)"},
        **responses(404, 422, 503),
    },
    "openapi_extra": {"parameters": [IF_NONE_MATCH_DOC, CLIENT_ID_DOC]},
    "dependencies": needs("read"),
}


def client_id(request: Request) -> str | None:
    """The X-Client-Id the request carries, if any; 422 for one that is not 1 to 128 visible
    ASCII characters."""
    value = header(request, b"x-client-id")
    if value is None or _CLIENT_ID.fullmatch(value):
        return value
    error = {
        "type": "value_error",
        "loc": ("header", "X-Client-Id"),
        "msg": "must be 1 to 128 visible ASCII characters",
    }
    raise RequestValidationError([error])


def _reader(request: Request) -> tuple:
    """What a client read needs: the read model, the token's applications, the client's id and
    whether the token sees secret values."""
    return services(request).reads, among(request), client_id(request), reveals_to_client(request)


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
    reads, limit, client, reveal = _reader(request)
    return _answer(
        request,
        application_name,
        wait,
        lambda: reads.configuration_by_name(application_name, configuration_name, limit, client, reveal),
        configuration_name,
        client,
    )


@router.get(
    "/{application_name}",
    response_model=ConfigurationBundle,
    summary="An application and all its configurations, by name: what a service reads at start-up",
    **DOCS,
)
def get_config_bundle(request: Request, application_name: ApplicationName, wait: Wait = None) -> Awaitable[Response]:
    reads, limit, client, reveal = _reader(request)
    return _answer(
        request, application_name, wait, lambda: reads.bundle(application_name, limit, client, reveal), None, client
    )


async def _answer(
    request: Request,
    application: str,
    wait: float | None,
    read: Callable[[], Awaitable[ClientRead]],
    configuration: str | None,
    client: str | None,
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
    if client is not None:
        _seen(request, client, found)
    headers = {"ETag": quoted(found.etag)}
    if answer.stale:
        headers["X-Config-Stale"] = "true"
    if not_modified(request, found.etag):
        return Response(status_code=304, headers=headers)
    return JSONBytes(found.body, headers=headers)


def _seen(request: Request, client: str, found: Entry) -> None:
    """The fleet view notes which version this client holds now (served, or held: a 304)."""
    sightings = services(request).sightings
    if found.id is not None:
        sightings.note(found.id, client, found.version)
    for configuration_id, version in found.served:
        sightings.note(configuration_id, client, version)


class ReportBody(_Body):
    client_id: ClientId
    version: int = Field(ge=1, le=INT4, description="The version the client tried to apply")
    ok: bool = Field(description="Whether it applied it (false: its callback failed, or the document did not fit)")
    message: str | None = Field(None, max_length=1024, description="What went wrong, for the fleet view")


@router.post(
    "/{application_name}/{configuration_name}/reports",
    status_code=202,
    response_class=Response,  # 202 with no body
    responses={202: {"description": "Noted"}, **responses(404, 413, 415, 422, 503)},
    dependencies=needs("read"),  # a client's own token may report
    summary="A client says whether it could apply a version (failures of a rollout's version roll it back)",
)
async def report(
    request: Request, application_name: ApplicationName, configuration_name: ConfigurationName, body: ReportBody
) -> Response:
    svc = services(request)
    id = await svc.reads.configuration_id(application_name, configuration_name, among(request))
    if id is None:
        return error_response(
            request, 404, f"application {application_name!r} has no configuration named {configuration_name!r}"
        )
    cmd = ReportOutcome(id, body.client_id, body.version, body.ok, body.message)
    await svc.bus.dispatch(cmd, caller(request))
    return Response(status_code=202)
