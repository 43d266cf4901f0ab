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


def _ping(cur) -> None:
    cur.execute("SELECT 1")


@router.get("/health", response_model=HealthOut, responses=responses(503), summary="Liveness and database reachability")
async def health(request: Request) -> Response:
    await services(request).db.query(_ping)
    return json_response(HealthOut(status="ok", database="ok"))
