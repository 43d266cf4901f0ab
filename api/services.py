"""What the routes work with, made once by the app's lifespan (see `api.app`)."""

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from infra.database import Database
from queries.read_model import ReadModel


@dataclass(frozen=True)
class Services:
    db: Database
    reads: ReadModel


def services(request: Request) -> Services:
    return request.app.state.services


def json_response(body: BaseModel | bytes, status: int = 200, headers: dict | None = None) -> Response:
    content = body if isinstance(body, bytes) else body.model_dump_json().encode()
    return Response(content, status_code=status, media_type="application/json", headers=headers)
