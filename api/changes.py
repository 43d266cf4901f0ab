"""/api/v1/changes: the change feed, which is also the audit log."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from api.auth import needs
from api.errors import responses
from api.openapi import LINK
from api.responses import json_response
from api.routing import Route
from api.services import among, services
from queries.views import ChangeView

router = APIRouter(tags=["changes"], route_class=Route)

_CHANGES = TypeAdapter(list[ChangeView])


@router.get(
    "/changes",
    response_model=list[ChangeView],
    responses={200: {"headers": LINK}, **responses(422, 503)},
    dependencies=needs("read"),
    summary="Every accepted change after a revision, oldest first; optionally waiting for the next",
)
async def list_changes(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="The last revision you have seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most changes to return")] = 100,
    wait: Annotated[
        float | None,
        Query(ge=1, le=60, description="Seconds to hold the request while there is nothing newer (then [])"),
    ] = None,
) -> Response:
    changes = await services(request).feed.read(after, limit, wait, among(request))
    headers = None
    if len(changes) == limit:
        headers = {"Link": f'<{request.url.path}?after={changes[-1].revision}&limit={limit}>; rel="next"'}
    return json_response(_CHANGES.dump_json(changes), headers=headers)
