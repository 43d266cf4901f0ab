"""/api/v1/tokens: API tokens, managed by unlimited admin tokens; and /tokens/current, which
any token may ask: who am I?"""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictBool
from starlette.convertors import Convertor, register_url_convertor

from api.auth import needs, principal
from api.errors import responses
from api.responses import json_response
from api.routing import Route
from api.schemas import Name, _Body
from api.services import caller, services
from commands.tokens import MAX_EXPIRES_IN_DAYS, CreateToken, RevokeToken
from infra.access import Scope
from infra.ids import UlidParam
from queries.tokens import TokenView, list_tokens
from queries.views import json_array


class _UlidSegment(Convertor):
    """A path segment that is a ULID, so that /tokens/current never matches /tokens/{id}."""

    regex = "[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ulid", _UlidSegment())

router = APIRouter(prefix="/tokens", tags=["tokens"], route_class=Route)
# Tokens are managed by admins whose own token is limited to no application.
ADMIN = needs("admin", every_application=True)

TokenId = Annotated[UlidParam, Path(description="The token's id")]


class TokenCreate(_Body):
    name: Name
    scope: Scope
    applications: list[Name] | None = Field(
        None, min_length=1, max_length=1000, description="Limit it to these applications (by name); omit for all"
    )
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=MAX_EXPIRES_IN_DAYS,
        description="Refuse it (401 `token_expired`) after this many days; omit: never",
    )
    reveal: StrictBool = Field(
        False,
        description='Whether it may see secret values; without it they show as "********" (but on /config to a '
        "token limited to the application)",
    )


class TokenCreated(TokenView):
    secret: str = Field(description="The secret, shown this once: send it as `Authorization: Bearer <secret>`")


class Whoami(BaseModel):
    auth: Literal["tokens", "off"]
    id: str | None
    name: str | None
    scope: Scope
    reveal: bool = Field(description="Whether it may see secret values")
    applications: list[str] | None = Field(description="The applications it is limited to; null: every one")


@router.post(
    "",
    status_code=201,
    response_model=TokenCreated,
    responses=responses(409, 413, 415, 422, 503),
    dependencies=ADMIN,
    summary="Create a token (its secret is in this answer only)",
)
async def create_token(body: TokenCreate, request: Request) -> Response:
    applications = None if body.applications is None else tuple(body.applications)
    command = CreateToken(body.name, body.scope, applications, body.expires_in_days, body.reveal)
    done = await services(request).bus.dispatch(command, caller(request))
    return json_response(TokenCreated(**done.row), 201)  # in force here at once; announced to the others


@router.get(
    "",
    response_model=list[TokenView],
    responses=responses(503),
    dependencies=ADMIN,
    summary="The active tokens (no secrets), with when each expires and was last used",
)
async def get_tokens(request: Request) -> Response:
    app = services(request)
    tokens = await app.db.query(list_tokens)
    # Uses this instance noted and has not written yet (it writes them once a minute).
    for i, token in enumerate(tokens):
        noted = app.token_uses.last_used(token.id)
        if noted is not None and (token.last_used_at is None or noted > token.last_used_at.timestamp()):
            tokens[i] = token.model_copy(update={"last_used_at": datetime.fromtimestamp(noted, UTC)})
    return json_response(json_array([token.model_dump_json().encode() for token in tokens]))


@router.get(
    "/current", response_model=Whoami, dependencies=needs("read"), summary="The token this request was made with"
)
async def current_token(request: Request) -> Response:
    who = principal(request)
    applications = None
    if who.applications is not None:
        directory = services(request).reads.directory
        applications = sorted(filter(None, (directory.application_name(id) for id in who.applications)))
    mode = "off" if who.token_id is None else "tokens"
    whoami = Whoami(
        auth=mode, id=who.token_id, name=who.name, scope=who.scope, reveal=who.reveal, applications=applications
    )
    return json_response(whoami)


@router.delete(
    "/{id:ulid}",
    status_code=204,
    responses=responses(404, 422, 503),
    dependencies=ADMIN,
    summary="Revoke a token, on every instance",
)
async def revoke_token(id: TokenId, request: Request) -> Response:
    await services(request).bus.dispatch(RevokeToken(id=id), caller(request))
    return Response(status_code=204)
