"""/api/v1/applications: HTTP in, a command or a query, HTTP out."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.errors import error_response, responses
from api.resource_route import ResourceRoute
from api.schemas import ApplicationCreate, ApplicationOut, ApplicationUpdate
from api.services import json_response, services
from commands import applications as handlers
from commands.applications import CreateApplication, UpdateApplication
from infra.ids import UlidParam
from queries.views import ApplicationSummary, ApplicationView

router = APIRouter(prefix="/applications", tags=["applications"], route_class=ResourceRoute)

ApplicationId = Annotated[UlidParam, Path(description="The application's id")]
LOCATION = {"Location": {"description": "URL of the new application", "schema": {"type": "string"}}}
LINK = {
    "Link": {
        "description": 'URL of the next page, as `<url>; rel="next"`, while more remain',
        "schema": {"type": "string"},
    }
}


@router.post(
    "",
    status_code=201,
    response_model=ApplicationOut,
    responses={201: {"headers": LOCATION}, **responses(409, 413, 415, 422, 503)},
    summary="Create an application",
)
async def create_application(body: ApplicationCreate, request: Request) -> Response:
    svc = services(request)
    row = await svc.db.command(handlers.create_application, CreateApplication(body.name, body.comments))
    svc.reads.application_changed(row["id"])
    location = f"{request.url.path}/{row['id']}"
    return json_response(ApplicationOut(**row), 201, {"Location": location})


@router.put(
    "/{id}",
    response_model=ApplicationOut,
    responses=responses(404, 409, 413, 415, 422, 503),
    summary="Replace an application's name and comments",
)
async def update_application(id: ApplicationId, body: ApplicationUpdate, request: Request) -> Response:
    svc = services(request)
    cmd = UpdateApplication(id, body.name, body.comments)
    row = await svc.db.command(handlers.update_application, cmd)
    svc.reads.application_changed(row["id"])
    return json_response(ApplicationOut(**row))


@router.get(
    "/{id}",
    response_model=ApplicationView,
    responses=responses(404, 422, 503),
    summary="An application with the ids of its configurations",
)
async def get_application(id: ApplicationId, request: Request) -> Response:
    body = await services(request).reads.application(id)
    if body is None:
        return error_response(request, 404, f"application {id} does not exist")
    return json_response(body)


@router.get(
    "",
    response_model=list[ApplicationSummary],
    responses={200: {"headers": LINK}, **responses(422, 503)},
    summary="Applications in id (creation) order, a page at a time",
)
async def list_applications(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size")] = 100,
    after: Annotated[UlidParam | None, Query(description="Continue after this id (from the Link header)")] = None,
) -> Response:
    body, next_after = await services(request).reads.application_page(limit, after)
    headers = None
    if next_after is not None:
        headers = {"Link": f'<{request.url.path}?limit={limit}&after={next_after}>; rel="next"'}
    return json_response(body, headers=headers)
