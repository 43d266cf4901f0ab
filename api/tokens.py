"""/api/v1/tokens: API tokens, managed by unlimited admin tokens (api/auth.py); and
/tokens/current, which any token may ask: who am I?"""

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from api.auth import principal
from api.errors import responses
from api.resource_route import ResourceRoute
from api.schemas import Name, _Body
from api.services import Services, json_response, services
from commands import tokens as handlers
from commands.tokens import CreateToken, RevokeToken
from infra.database import DatabaseUnavailable, Overloaded
from infra.ids import UlidParam
from queries.tokens import Scope, TokenView, list_tokens

log = logging.getLogger("api")


class _UlidSegment(Convertor):
    """A path segment that is a ULID, so that /tokens/current never matches /tokens/{id}."""

    regex = "[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ulid", _UlidSegment())

router = APIRouter(prefix="/tokens", tags=["tokens"], route_class=ResourceRoute)

TokenId = Annotated[UlidParam, Path(description="The token's id")]


class TokenCreate(_Body):
    name: Name
    scope: Scope
    applications: list[Name] | None = Field(
        None, min_length=1, max_length=1000, description="Limit it to these applications (by name); omit for all"
    )


class TokenCreated(TokenView):
    secret: str = Field(description="The secret, shown this once: send it as `Authorization: Bearer <secret>`")


class Whoami(BaseModel):
    auth: Literal["tokens", "off"]
    id: str | None
    name: str | None
    scope: Scope
    applications: list[str] | None = Field(description="The applications it is limited to; null: every one")


@router.post(
    "",
    status_code=201,
    response_model=TokenCreated,
    responses=responses(409, 413, 415, 422, 503),
    summary="Create a token (its secret is in this answer only)",
)
async def create_token(body: TokenCreate, request: Request) -> Response:
    svc = services(request)
    applications = None if body.applications is None else tuple(body.applications)
    row = await svc.db.command(handlers.create_token, CreateToken(body.name, body.scope, applications))
    await _refresh(svc)  # usable here at once; other instances hear of it
    return json_response(TokenCreated(**row), 201)


@router.get("", response_model=list[TokenView], responses=responses(503), summary="The active tokens (no secrets)")
async def get_tokens(request: Request) -> Response:
    tokens = await services(request).db.query(list_tokens)
    return json_response(b"[" + b",".join(token.model_dump_json().encode() for token in tokens) + b"]")


@router.get("/current", response_model=Whoami, summary="The token this request was made with")
async def current_token(request: Request) -> Response:
    who = principal(request)
    applications = None
    if who.applications is not None:
        directory = services(request).reads.directory
        applications = sorted(filter(None, (directory.application_name(id) for id in who.applications)))
    mode = "off" if who.token_id is None else "tokens"
    return json_response(Whoami(auth=mode, id=who.token_id, name=who.name, scope=who.scope, applications=applications))


@router.delete(
    "/{id:ulid}", status_code=204, responses=responses(404, 422, 503), summary="Revoke a token, on every instance"
)
async def revoke_token(id: TokenId, request: Request) -> Response:
    svc = services(request)
    await svc.db.command(handlers.revoke_token, RevokeToken(id=id))
    await _refresh(svc)
    return Response(status_code=204)


async def _refresh(svc: Services) -> None:
    """Reads the tokens again after a change that is committed: if that read fails, the change
    still stands (and a new secret must still reach its maker, once), and the change's
    announcement brings the tokens here when the database is back."""
    try:
        await svc.refresh_tokens()
    except (DatabaseUnavailable, Overloaded):
        log.warning("tokens changed; reading them again failed, the announcement will bring them")
