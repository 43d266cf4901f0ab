"""/api/v1/configurations/{id}/rollouts: staged rollouts of a configuration's versions; and the
fleet view, /configurations/{id}/clients and /applications/{id}/clients: which client holds
which version."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth import needs
from api.configurations import ConfigurationId
from api.errors import error_response, responses
from api.openapi import LINK, location
from api.responses import json_response
from api.routing import Route
from api.schemas import INT4, ClientId, Limit, _Body
from api.services import among, caller, services
from commands.rollouts import PauseRollout, PromoteRollout, ResumeRollout, RollBackRollout, StartRollout
from infra.ids import UlidParam
from queries.fleet import ConfigurationFleet, Fleet, application_fleet, configuration_fleet
from queries.rollouts import RolloutView, get_rollout, list_rollouts
from queries.sources import LIST
from queries.views import json_array

router = APIRouter(tags=["rollouts"], route_class=Route)

RolloutId = Annotated[UlidParam, Path(description="The rollout's id")]
ApplicationId = Annotated[UlidParam, Path(description="The application's id")]


class RolloutCreate(_Body):
    version: int = Field(ge=1, le=INT4, description="The version to move clients to")
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        [10, 50, 100], min_length=1, max_length=100, description="Shares of clients, strictly increasing, ending at 100"
    )
    step_seconds: int = Field(60, ge=1, le=86_400, description="Seconds between steps")
    max_failures: int = Field(
        0, ge=0, le=1_000_000, description="Failure reports of the new version tolerated; one more rolls it back"
    )


class Rollouts(BaseModel):
    rollouts: list[RolloutView]


class ApplicationClients(BaseModel):
    configurations: list[ConfigurationFleet]


def _answer(request: Request, row: dict, status: int = 200, headers: dict | None = None) -> Response:
    return json_response(RolloutView(**row), status, headers)


@router.post(
    "/configurations/{id}/rollouts",
    status_code=201,
    response_model=RolloutView,
    responses={201: {"headers": location("rollout")}, **responses(404, 409, 413, 415, 422, 503)},
    dependencies=needs("write"),
    summary="Start a rollout of a staged configuration's version, at its first step at once",
)
async def start_rollout(id: ConfigurationId, body: RolloutCreate, request: Request) -> Response:
    cmd = StartRollout(id, body.version, tuple(body.steps), body.step_seconds, body.max_failures)
    done = await services(request).bus.dispatch(cmd, caller(request))
    return _answer(request, done.row, 201, {"Location": f"{request.url.path}/{done.id}"})


@router.get(
    "/configurations/{id}/rollouts",
    response_model=list[RolloutView],
    responses={200: {"headers": LINK}, **responses(404, 422, 503)},
    dependencies=needs("read"),
    summary="A configuration's rollouts, newest first, a page at a time",
)
async def list_configuration_rollouts(
    id: ConfigurationId,
    request: Request,
    limit: Limit = 100,
    after: Annotated[UlidParam | None, Query(description="Continue after this rollout (from the Link header)")] = None,
) -> Response:
    page = await services(request).sources.query(LIST, list_rollouts, id, limit, after, among(request))
    if page is None:
        return error_response(request, 404, f"configuration {id} does not exist")
    headers = None
    if page.next_after is not None:
        headers = {"Link": f'<{request.url.path}?limit={limit}&after={page.next_after}>; rel="next"'}
    return json_response(json_array([item.model_dump_json().encode() for item in page.items]), headers=headers)


@router.get(
    "/configurations/{id}/rollouts/{rollout_id}",
    response_model=RolloutView,
    responses=responses(404, 422, 503),
    dependencies=needs("read"),
    summary="One rollout",
)
async def get_configuration_rollout(id: ConfigurationId, rollout_id: RolloutId, request: Request) -> Response:
    view = await services(request).db.query(get_rollout, id, rollout_id, among(request))
    if view is None:
        return error_response(request, 404, f"configuration {id} has no rollout {rollout_id}")
    return json_response(view)


def _action(command: type, verb: str, summary: str):
    @router.post(
        f"/configurations/{{id}}/rollouts/{{rollout_id}}/{verb}",
        response_model=RolloutView,
        responses=responses(404, 409, 422, 503),
        dependencies=needs("write"),
        summary=summary,
        name=f"{verb}_rollout",
    )
    async def act(id: ConfigurationId, rollout_id: RolloutId, request: Request) -> Response:
        done = await services(request).bus.dispatch(command(id, rollout_id), caller(request))
        return _answer(request, done.row)

    return act


pause_rollout = _action(PauseRollout, "pause", "Hold a running rollout at its share")
resume_rollout = _action(ResumeRollout, "resume", "Resume a paused rollout (its next step comes step_seconds later)")
roll_back_rollout = _action(RollBackRollout, "rollback", "Everyone back to the version live before the rollout")
promote_rollout = _action(PromoteRollout, "promote", "Straight to 100%: the rollout completes and its version is live")


@router.get(
    "/configurations/{id}/clients",
    response_model=Fleet,
    responses={200: {"headers": LINK}, **responses(404, 422, 503)},
    dependencies=needs("read"),
    summary="The clients seen within CLIENT_TTL, the version each holds, and how many hold each version",
)
async def configuration_clients(
    id: ConfigurationId,
    request: Request,
    limit: Limit = 100,
    after: Annotated[ClientId | None, Query(description="Continue after this client id (from the Link header)")] = None,
) -> Response:
    svc = services(request)
    found = await svc.sources.query(LIST, configuration_fleet, id, svc.client_ttl, limit, after, among(request))
    if found is None:
        return error_response(request, 404, f"configuration {id} does not exist")
    fleet, next_after = found
    headers = None
    if next_after is not None:
        headers = {"Link": f'<{request.url.path}?{urlencode({"limit": limit, "after": next_after})}>; rel="next"'}
    return json_response(fleet, headers=headers)


@router.get(
    "/applications/{id}/clients",
    response_model=ApplicationClients,
    responses=responses(404, 422, 503),
    dependencies=needs("read"),
    summary="The fleet view of each configuration of an application (its first `limit` clients each)",
)
async def application_clients(id: ApplicationId, request: Request, limit: Limit = 100) -> Response:
    svc = services(request)
    found = await svc.sources.query(LIST, application_fleet, id, svc.client_ttl, limit, among(request))
    if found is None:
        return error_response(request, 404, f"application {id} does not exist")
    return json_response(ApplicationClients(configurations=found))
