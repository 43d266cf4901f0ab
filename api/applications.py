"""/api/v1/applications: HTTP in, a command or a query, HTTP out."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

from api.auth import needs
from api.conditional import ETAG_HEADER, if_match
from api.errors import error_response, responses
from api.openapi import CONDITIONAL_CHANGE, CONDITIONAL_GET, LINK, MERGE_PATCH, NOT_MODIFIED, location
from api.responses import json_response, one_way_to_page, page_response, view_response
from api.routing import Route
from api.schemas import ApplicationCreate, ApplicationPatch, ApplicationUpdate, Limit, Offset, SearchText
from api.services import among, caller, reveals, services
from commands.applications import CreateApplication, DeleteApplication, PatchApplication, UpdateApplication
from infra.events import Committed
from infra.ids import UlidParam
from queries.views import ApplicationRecord, ApplicationSummary, ApplicationView, ConfigurationView

router = APIRouter(prefix="/applications", tags=["applications"], route_class=Route)

ApplicationId = Annotated[UlidParam, Path(description="The application's id")]


@router.post(
    "",
    status_code=201,
    response_model=ApplicationRecord,
    responses={201: {"headers": {**location("application"), **ETAG_HEADER}}, **responses(409, 413, 415, 422, 503)},
    dependencies=needs("admin", every_application=True),  # a new application is outside every limit
    summary="Create an application",
)
async def create_application(body: ApplicationCreate, request: Request) -> Response:
    done = await services(request).bus.dispatch(CreateApplication(body.name, body.comments), caller(request))
    return _answer(done, 201, {"Location": f"{request.url.path}/{done.id}"})


@router.put(
    "/{id}",
    response_model=ApplicationRecord,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Replace an application's name and comments",
)
async def update_application(id: ApplicationId, body: ApplicationUpdate, request: Request) -> Response:
    cmd = UpdateApplication(id, body.name, body.comments, if_match(request))
    return _answer(await services(request).bus.dispatch(cmd, caller(request)))


@router.patch(
    "/{id}",
    response_model=ApplicationRecord,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Change some of an application's fields (JSON merge patch, RFC 7396)",
)
async def patch_application(
    id: ApplicationId, body: Annotated[ApplicationPatch, Body(media_type=MERGE_PATCH)], request: Request
) -> Response:
    set_comments = "comments" in body.model_fields_set
    cmd = PatchApplication(id, body.name, body.comments, set_comments, if_match(request))
    return _answer(await services(request).bus.dispatch(cmd, caller(request)))


def _answer(done: Committed, status: int = 200, headers: dict | None = None) -> Response:
    return json_response(ApplicationRecord(**done.row), status, headers, etag=done.row["etag"])


@router.delete(
    "/{id}",
    status_code=204,
    responses=responses(404, 409, 412, 422, 503),
    dependencies=needs("admin"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Delete an application that has no configurations",
)
async def delete_application(id: ApplicationId, request: Request) -> Response:
    await services(request).bus.dispatch(DeleteApplication(id, if_match(request)), caller(request))
    return Response(status_code=204)


@router.get(
    "/{id}",
    response_model=ApplicationView,
    responses={200: {"headers": ETAG_HEADER}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    openapi_extra=CONDITIONAL_GET,
    summary="An application with the ids of its configurations",
)
async def get_application(id: ApplicationId, request: Request) -> Response:
    entry = await services(request).reads.application(id, among(request))
    if entry is None:
        return error_response(request, 404, f"application {id} does not exist")
    return view_response(request, entry)


@router.get(
    "",
    response_model=list[ApplicationSummary],
    responses={200: {"headers": {**LINK, **ETAG_HEADER}}, **NOT_MODIFIED, **responses(422, 503)},
    dependencies=needs("read"),
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
    return page_response(request, await reads.application_page(limit, after, offset, search, among(request)))


@router.get(
    "/{id}/configurations",
    response_model=list[ConfigurationView],
    responses={200: {"headers": {**LINK, **ETAG_HEADER}}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
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
    entry = await services(request).reads.configuration_page(id, limit, after, offset, among(request), reveals(request))
    if entry is None:
        return error_response(request, 404, f"application {id} does not exist")
    return page_response(request, entry)
