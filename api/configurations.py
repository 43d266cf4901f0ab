"""/api/v1/configurations: HTTP in, a command or a query, HTTP out."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

from api.applications import CONDITIONAL_CHANGE, CONDITIONAL_GET, LINK, MERGE_PATCH
from api.auth import limits, sees
from api.conditional import ETAG_HEADER, if_match
from api.errors import error_response, responses
from api.resource_route import ResourceRoute
from api.schemas import ConfigurationCreate, ConfigurationPatch, ConfigurationUpdate, Limit, Offset
from api.services import json_response, one_way_to_page, origin, page_response, services, view_response
from commands import configurations as handlers
from commands.configurations import (
    CreateConfiguration,
    DeleteConfiguration,
    PatchConfiguration,
    UpdateConfiguration,
)
from infra.ids import UlidParam
from queries.views import ConfigurationView

router = APIRouter(prefix="/configurations", tags=["configurations"], route_class=ResourceRoute)

ConfigurationId = Annotated[UlidParam, Path(description="The configuration's id")]
LOCATION = {"Location": {"description": "URL of the new configuration", "schema": {"type": "string"}}}


def _ulid(value: object) -> str | None:
    return None if value is None else str(value)


@router.post(
    "",
    status_code=201,
    response_model=ConfigurationView,
    responses={201: {"headers": {**LOCATION, **ETAG_HEADER}}, **responses(409, 413, 415, 422, 503)},
    summary="Create a configuration of an application",
)
async def create_configuration(body: ConfigurationCreate, request: Request) -> Response:
    svc = services(request)
    cmd = CreateConfiguration(str(body.application_id), body.name, body.config, body.comments, limits(request))
    view = ConfigurationView(**await svc.db.command(handlers.create_configuration, cmd, origin(request)))
    svc.written(view.revision, view.id, view.name, view.application_id)
    location = f"{request.url.path}/{view.id}"
    return json_response(view, 201, {"Location": location}, etag=view.etag)


@router.put(
    "/{id}",
    response_model=ConfigurationView,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Replace a configuration's name, comments and config",
)
async def update_configuration(id: ConfigurationId, body: ConfigurationUpdate, request: Request) -> Response:
    cmd = UpdateConfiguration(
        id, body.name, body.config, body.comments, _ulid(body.application_id), if_match(request), limits(request)
    )
    return await _change(request, handlers.update_configuration, cmd)


@router.patch(
    "/{id}",
    response_model=ConfigurationView,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
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
        config_patch=body.config,
        application_id=_ulid(body.application_id),
        if_match=if_match(request),
        applications=limits(request),
    )
    return await _change(request, handlers.patch_configuration, cmd)


async def _change(request: Request, handler, cmd) -> Response:
    svc = services(request)
    view = ConfigurationView(**await svc.db.command(handler, cmd, origin(request)))
    svc.written(view.revision, view.id, view.name, view.application_id)
    return json_response(view, etag=view.etag)


@router.delete(
    "/{id}",
    status_code=204,
    responses=responses(404, 412, 422, 503),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Delete a configuration (its history stays, and a restore brings it back)",
)
async def delete_configuration(id: ConfigurationId, request: Request) -> Response:
    svc = services(request)
    cmd = DeleteConfiguration(id, if_match(request), limits(request))
    row = await svc.db.command(handlers.delete_configuration, cmd, origin(request))
    svc.written(row["revision"], row["id"], None, row["application_id"], deleted=True)
    return Response(status_code=204)


@router.get(
    "/{id}",
    response_model=ConfigurationView,
    responses={200: {"headers": ETAG_HEADER}, 304: {"description": "Not modified"}, **responses(404, 422, 503)},
    openapi_extra=CONDITIONAL_GET,
    summary="A configuration",
)
async def get_configuration(id: ConfigurationId, request: Request) -> Response:
    entry = await services(request).reads.configuration(id)
    if entry is None or not sees(request, entry.application_id):
        return error_response(request, 404, f"configuration {id} does not exist")
    return view_response(request, entry)


@router.get(
    "",
    response_model=list[ConfigurationView],
    responses={
        200: {"headers": {**LINK, **ETAG_HEADER}},
        304: {"description": "Not modified"},
        **responses(404, 422, 503),
    },
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
    entry = (
        await reads.configuration_page(application_id, limit, after, offset) if sees(request, application_id) else None
    )
    if entry is None:
        return error_response(request, 404, f"application {application_id} does not exist")
    return page_response(request, entry)
