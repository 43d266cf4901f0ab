"""GET /health/live and /health/ready, for orchestrators (a Kubernetes Deployment's probes,
deploy/): neither costs a database round trip; /health (api/health.py) stays as it is.

- live: the process answers. Restart it when it does not.
- ready: the read model is loaded and the primary answered the background check
  (infra/health.py) within the last few seconds. A not-ready instance is taken
  out of a load balancer's rotation, but it keeps serving what it can: reads by name from
  memory, marked stale, and 503 + Retry-After for what needs the database.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth import PUBLIC
from api.errors import RETRY_AFTER_HEADER, UNAVAILABLE, ErrorBody, request_id
from api.responses import json_response
from api.routing import Route
from api.services import services
from infra.database import DatabaseUnavailable

router = APIRouter(prefix="/health", tags=["health"], route_class=Route)

READ_MODEL = "'live', 'stale' (not following the changes: reads by name are served marked stale) or 'loading'"


class LiveOut(BaseModel):
    status: str = Field(description="Always 'ok': the process answers")


class ReadyOut(BaseModel):
    status: str = Field(description="'ready'")
    read_model: str = Field(description=READ_MODEL)
    revision: int | None = Field(description="The latest revision this instance has applied")


class NotReady(ErrorBody):
    """The error body, and why."""

    read_model: str = Field(description=READ_MODEL)
    database: str = Field(description="'ok', or 'unavailable' when the last check failed or is too old")


@router.get("/live", response_model=LiveOut, dependencies=PUBLIC, summary="Liveness: the process answers")
async def live(request: Request) -> Response:
    return json_response(b'{"status":"ok"}')


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": NotReady, "description": "Not ready", "headers": RETRY_AFTER_HEADER}},
    dependencies=PUBLIC,
    summary="Readiness: the read model is loaded and the primary reachable",
)
async def ready(request: Request) -> Response:
    app = services(request)
    reads, check = app.reads, app.health
    if reads.loaded and check.reachable:
        return json_response(ReadyOut(status="ready", read_model=reads.state, revision=reads.revision))
    if not check.reachable:
        code, message, retry_after = UNAVAILABLE[DatabaseUnavailable]
    else:
        code, message, retry_after = "starting", "the read model is loading; retry shortly", "1"
    body = NotReady(
        code=code,
        message=message,
        request_id=request_id(request),
        read_model=reads.state,
        database="ok" if check.reachable else "unavailable",
    )
    return json_response(body, 503, {"Retry-After": retry_after})
