"""GET /health: 200 while the database answers and the read model is loaded; 503 otherwise,
with the error body and what the read model can still do. It costs no database round trip:
whether the database answers is what the instance's background check (infra/health.py) last
found, at most half a second ago."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth import PUBLIC
from api.errors import RETRY_AFTER_HEADER, UNAVAILABLE, ErrorBody, request_id
from api.responses import json_response
from api.routing import Route
from api.services import services
from infra.database import DatabaseUnavailable

router = APIRouter(tags=["health"], route_class=Route)

READ_MODEL_STATES = (
    "'live': following every change, views held are current; 'stale': not following (the "
    "database or the connection to it is away), held views are served on /api/v1/config only, "
    "marked X-Config-Stale; 'loading': not loaded yet"
)


class HealthOut(BaseModel):
    status: str
    database: str
    read_model: str = Field(description=READ_MODEL_STATES)
    views_held: int


class HealthUnavailable(ErrorBody):
    """The error body, and what the read model can still serve."""

    read_model: str = Field(description=READ_MODEL_STATES)
    views_held: int
    stale_reads: bool = Field(description="Whether /api/v1/config serves held views (marked stale) meanwhile")


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthUnavailable, "description": "Not ready", "headers": RETRY_AFTER_HEADER}},
    dependencies=PUBLIC,
    summary="Liveness, database reachability and the read model's state",
)
async def health(request: Request) -> Response:
    app = services(request)
    reads = app.reads
    if app.health.failure is not None:
        return _unavailable(request, DatabaseUnavailable(app.health.failure), reads)
    if not reads.loaded:
        return _unavailable(request, None, reads)
    return json_response(HealthOut(status="ok", database="ok", read_model=reads.state, views_held=reads.size[0]))


def _unavailable(request: Request, exc: Exception | None, reads) -> Response:
    code, message, retry_after = (
        UNAVAILABLE[type(exc)] if exc else ("starting", "the read model is loading; retry shortly", "1")
    )
    body = HealthUnavailable(
        code=code,
        message=message,
        request_id=request_id(request),
        read_model=reads.state,
        views_held=reads.size[0],
        stale_reads=reads.loaded and not reads.listening and reads.size[0] > 0,
    )
    return json_response(body, 503, {"Retry-After": retry_after})
