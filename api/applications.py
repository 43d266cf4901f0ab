"""/api/v1/applications: HTTP in, a command or a query, HTTP out."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

from api.auth import limits, sees
from api.conditional import ETAG_HEADER, IF_MATCH_DOC, IF_NONE_MATCH_DOC, if_match
from api.errors import error_response, responses
from api.resource_route import ResourceRoute
from api.schemas import (
    ApplicationCreate,
    ApplicationOut,
    ApplicationPatch,
    ApplicationUpdate,
    Limit,
    Offset,
    SearchText,
)
from api.services import json_response, one_way_to_page, origin, page_response, services, view_response
from commands import applications as handlers
from commands.applications import CreateApplication, DeleteApplication, PatchApplication, UpdateApplication
from infra.ids import UlidParam
from queries.views import ApplicationSummary, ApplicationView, ConfigurationView

router = APIRouter(prefix="/applications", tags=["applications"], route_class=ResourceRoute)

ApplicationId = Annotated[UlidParam, Path(description="The application's id")]
MERGE_PATCH = "application/merge-patch+json"
LOCATION = {"Location": {"description": "URL of the new application", "schema": {"type": "string"}}}
LINK = {
    "Link": {
        "description": 'URL of the next page, as `<url>; rel="next"`, while more remain',
        "schema": {"type": "string"},
    }
}
CONDITIONAL_GET = {"parameters": [IF_NONE_MATCH_DOC]}
CONDITIONAL_CHANGE = {"parameters": [IF_MATCH_DOC]}


@router.post(
    "",
    status_code=201,
    response_model=ApplicationOut,
    responses={201: {"headers": {**LOCATION, **ETAG_HEADER}}, **responses(409, 413, 415, 422, 503)},
    summary="Create an application",
)
async def create_application(body: ApplicationCreate, request: Request) -> Response:
    svc = services(request)
    cmd = CreateApplication(body.name, body.comments)
    row = await svc.db.command(handlers.create_application, cmd, origin(request))
    svc.written(row["revision"], row["id"], row["name"])
    location = f"{request.url.path}/{row['id']}"
    return json_response(ApplicationOut(**row), 201, {"Location": location}, etag=row["etag"])


@router.put(
    "/{id}",
    response_model=ApplicationOut,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Replace an application's name and comments",
)
async def update_application(id: ApplicationId, body: ApplicationUpdate, request: Request) -> Response:
    cmd = UpdateApplication(id, body.name, body.comments, if_match(request), limits(request))
    return await _change(request, handlers.update_application, cmd)


@router.patch(
    "/{id}",
    response_model=ApplicationOut,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Change some of an application's fields (JSON merge patch, RFC 7396)",
)
async def patch_application(
    id: ApplicationId, body: Annotated[ApplicationPatch, Body(media_type=MERGE_PATCH)], request: Request
) -> Response:
    given = body.model_fields_set
    cmd = PatchApplication(id, body.name, body.comments, "comments" in given, if_match(request), limits(request))
    return await _change(request, handlers.patch_application, cmd)


async def _change(request: Request, handler, cmd) -> Response:
    svc = services(request)
    row = await svc.db.command(handler, cmd, origin(request))
    svc.written(row["revision"], row["id"], row["name"])
    return json_response(ApplicationOut(**row), etag=row["etag"])


@router.delete(
    "/{id}",
    status_code=204,
    responses=responses(404, 409, 412, 422, 503),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Delete an application that has no configurations",
)
async def delete_application(id: ApplicationId, request: Request) -> Response:
    svc = services(request)
    cmd = DeleteApplication(id, if_match(request), limits(request))
    row = await svc.db.command(handlers.delete_application, cmd, origin(request))
    svc.written(row["revision"], row["id"], None, deleted=True)
    return Response(status_code=204)


@router.get(
    "/{id}",
    response_model=ApplicationView,
    responses={200: {"headers": ETAG_HEADER}, 304: {"description": "Not modified"}, **responses(404, 422, 503)},
    openapi_extra=CONDITIONAL_GET,
    summary="An application with the ids of its configurations",
)
async def get_application(id: ApplicationId, request: Request) -> Response:
    entry = await services(request).reads.application(id) if sees(request, id) else None
    if entry is None:
        return error_response(request, 404, f"application {id} does not exist")
    return view_response(request, entry)


@router.get(
    "",
    response_model=list[ApplicationSummary],
    responses={200: {"headers": {**LINK, **ETAG_HEADER}}, 304: {"description": "Not modified"}, **responses(422, 503)},
    summary="Applications in id (creation) order, a page at a time",
)
async def list_applications(
    request: Request,
    limit: Limit = 100,
    after: Annotated[UlidParam | None, Query(description="Continue after this id (from the Link header)")] = None,
    offset: Offset = 0,
    search: Annotated[SearchText | None, Query(description="Only names that contain this (any case)")] = None,
) -> Response:
    one_way_to_page(request)
    reads = services(request).reads
    return page_response(request, await reads.application_page(limit, after, offset, search, limits(request)))


@router.get(
    "/{id}/configurations",
    response_model=list[ConfigurationView],
    responses={
        200: {"headers": {**LINK, **ETAG_HEADER}},
        304: {"description": "Not modified"},
        **responses(404, 422, 503),
    },
    summary="An application's configurations in id (creation) order, a page at a time",
)
async def list_configurations(
    id: ApplicationId,
    request: Request,
    limit: Limit = 100,
    after: Annotated[UlidParam | None, Query(description="Continue after this id (from the Link header)")] = None,
    offset: Offset = 0,
) -> Response:
    one_way_to_page(request)
    entry = await services(request).reads.configuration_page(id, limit, after, offset) if sees(request, id) else None
    if entry is None:
        return error_response(request, 404, f"application {id} does not exist")
    return page_response(request, entry)
