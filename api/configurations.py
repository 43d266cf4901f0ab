"""/api/v1/configurations: HTTP in, a command or a query, HTTP out."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

from api.auth import needs
from api.conditional import ETAG_HEADER, if_match
from api.errors import error_response, responses
from api.openapi import CONDITIONAL_CHANGE, CONDITIONAL_GET, LINK, MERGE_PATCH, NOT_MODIFIED, location
from api.responses import json_response, one_way_to_page, page_response, view_response
from api.routing import Route
from api.schemas import ConfigurationCreate, ConfigurationPatch, ConfigurationUpdate, Limit, Offset
from api.services import among, caller, reveals, services
from commands.configurations import (
    CreateConfiguration,
    DeleteConfiguration,
    PatchConfiguration,
    UpdateConfiguration,
)
from infra.events import Committed
from infra.ids import UlidParam
from queries.views import ConfigurationView

router = APIRouter(prefix="/configurations", tags=["configurations"], route_class=Route)

ConfigurationId = Annotated[UlidParam, Path(description="The configuration's id")]


def _ulid(value: object) -> str | None:
    return None if value is None else str(value)


def configuration_answer(request: Request, done: Committed, status: int = 200, headers: dict | None = None) -> Response:
    """The configuration as the change left it (its secret values shown only to a token that may
    see them), with its ETag."""
    view = ConfigurationView(**done.row).shown(reveals(request), services(request).reads.keyring, done.id)
    return json_response(view, status, headers, etag=str(done.revision))


@router.post(
    "",
    status_code=201,
    response_model=ConfigurationView,
    responses={201: {"headers": {**location("configuration"), **ETAG_HEADER}}, **responses(409, 413, 415, 422, 503)},
    dependencies=needs("write"),
    summary="Create a configuration of an application",
)
async def create_configuration(body: ConfigurationCreate, request: Request) -> Response:
    cmd = CreateConfiguration(
        str(body.application_id), body.name, body.document, body.comments, body.release, tuple(body.secrets)
    )
    done = await services(request).bus.dispatch(cmd, caller(request))
    return configuration_answer(request, done, 201, {"Location": f"{request.url.path}/{done.id}"})


@router.put(
    "/{id}",
    response_model=ConfigurationView,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Replace a configuration's name, comments and config",
)
async def update_configuration(id: ConfigurationId, body: ConfigurationUpdate, request: Request) -> Response:
    cmd = UpdateConfiguration(
        id,
        body.name,
        body.document,
        body.comments,
        _ulid(body.application_id),
        if_match(request),
        body.release,
        None if body.secrets is None else tuple(body.secrets),
    )
    return configuration_answer(request, await services(request).bus.dispatch(cmd, caller(request)))


@router.patch(
    "/{id}",
    response_model=ConfigurationView,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Change part of a configuration (JSON merge patch, RFC 7396), e.g. one key of its document",
)
async def patch_configuration(
    id: ConfigurationId, body: Annotated[ConfigurationPatch, Body(media_type=MERGE_PATCH)], request: Request
) -> Response:
    cmd = PatchConfiguration(
        id,
        name=body.name,
        comments=body.comments,
        set_comments="comments" in body.model_fields_set,
        config_patch=body.document,
        application_id=_ulid(body.application_id),
        if_match=if_match(request),
        release=body.release,
        secrets=None if body.secrets is None else tuple(body.secrets),
    )
    return configuration_answer(request, await services(request).bus.dispatch(cmd, caller(request)))


@router.delete(
    "/{id}",
    status_code=204,
    responses=responses(404, 409, 412, 422, 503),
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Delete a configuration (its history stays, and a restore brings it back); 409 during a rollout",
)
async def delete_configuration(id: ConfigurationId, request: Request) -> Response:
    await services(request).bus.dispatch(DeleteConfiguration(id, if_match(request)), caller(request))
    return Response(status_code=204)


@router.get(
    "/{id}",
    response_model=ConfigurationView,
    responses={200: {"headers": ETAG_HEADER}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    openapi_extra=CONDITIONAL_GET,
    summary="A configuration",
)
async def get_configuration(id: ConfigurationId, request: Request) -> Response:
    entry = await services(request).reads.configuration(id, among(request), reveals(request))
    if entry is None:
        return error_response(request, 404, f"configuration {id} does not exist")
    return view_response(request, entry)


@router.get(
    "",
    response_model=list[ConfigurationView],
    responses={200: {"headers": {**LINK, **ETAG_HEADER}}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    summary="An application's configurations, a page at a time (as /applications/{id}/configurations)",
)
async def list_configurations(
    request: Request,
    application_id: Annotated[UlidParam, Query(description="The application whose configurations to list")],
    limit: Limit = 100,
    after: Annotated[UlidParam | None, Query(description="Continue after this id (from the Link header)")] = None,
    offset: Offset = 0,
) -> Response:
    one_way_to_page(request)
    reads = services(request).reads
    entry = await reads.configuration_page(application_id, limit, after, offset, among(request), reveals(request))
    if entry is None:
        return error_response(request, 404, f"application {application_id} does not exist")
    return page_response(request, entry)
