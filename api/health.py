"""GET /health: 200 while the database answers, 503 (with the error body) when it does not."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.errors import responses
from api.services import json_response, services

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    database: str
    # "live": views are held and kept current; "bypassed": not listening, reads go to the
    # database; "off": READ_CACHE_MAX_BYTES=0.
    read_model: str
    views_held: int


def _ping(cur) -> None:
    cur.execute("SELECT 1")


@router.get("/health", response_model=HealthOut, responses=responses(503), summary="Liveness and database reachability")
async def health(request: Request) -> Response:
    app = services(request)
    await app.db.query(_ping)
    reads = app.reads
    state = "live" if reads.listening else "off" if reads.max_bytes == 0 else "bypassed"
    return json_response(HealthOut(status="ok", database="ok", read_model=state, views_held=reads.size[0]))
