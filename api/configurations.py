"""/api/v1/configurations: HTTP in, a command or a query, HTTP out."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.errors import error_response, responses
from api.resource_route import ResourceRoute
from api.schemas import ConfigurationCreate, ConfigurationUpdate
from api.services import json_response, services
from commands import configurations as handlers
from commands.configurations import CreateConfiguration, UpdateConfiguration
from infra.ids import UlidParam
from queries.views import ConfigurationView

router = APIRouter(prefix="/configurations", tags=["configurations"], route_class=ResourceRoute)

ConfigurationId = Annotated[UlidParam, Path(description="The configuration's id")]
LOCATION = {"Location": {"description": "URL of the new configuration", "schema": {"type": "string"}}}


@router.post(
    "",
    status_code=201,
    response_model=ConfigurationView,
    responses={201: {"headers": LOCATION}, **responses(409, 413, 415, 422, 503)},
    summary="Create a configuration of an application",
)
async def create_configuration(body: ConfigurationCreate, request: Request) -> Response:
    svc = services(request)
    cmd = CreateConfiguration(str(body.application_id), body.name, body.config, body.comments)
    row = await svc.db.command(handlers.create_configuration, cmd)
    svc.reads.configuration_changed(row["id"], row["application_id"])
    location = f"{request.url.path}/{row['id']}"
    return json_response(ConfigurationView(**row), 201, {"Location": location})


@router.put(
    "/{id}",
    response_model=ConfigurationView,
    responses=responses(404, 409, 413, 415, 422, 503),
    summary="Replace a configuration's name, comments and config",
)
async def update_configuration(id: ConfigurationId, body: ConfigurationUpdate, request: Request) -> Response:
    svc = services(request)
    cmd = UpdateConfiguration(
        id,
        body.name,
        body.config,
        body.comments,
        str(body.application_id) if body.application_id else None,
    )
    row = await svc.db.command(handlers.update_configuration, cmd)
    svc.reads.configuration_changed(row["id"], row["application_id"])
    return json_response(ConfigurationView(**row))


@router.get(
    "/{id}",
    response_model=ConfigurationView,
    responses=responses(404, 422, 503),
    summary="A configuration",
)
async def get_configuration(id: ConfigurationId, request: Request) -> Response:
    body = await services(request).reads.configuration(id)
    if body is None:
        return error_response(request, 404, f"configuration {id} does not exist")
    return json_response(body)
