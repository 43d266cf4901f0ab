"""/api/v1/configurations/{id}/schema: a configuration's JSON Schema, its history, restoring
one of its versions. Every change of the configuration's document is validated against it
(commands/validation.py)."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.auth import needs
from api.conditional import ETAG_HEADER, if_match
from api.configurations import ConfigurationId
from api.errors import error_response, responses
from api.openapi import CONDITIONAL_CHANGE, CONDITIONAL_GET, LINK, NOT_MODIFIED
from api.responses import json_response, one_way_to_page, page_response, view_response
from api.routing import Route
from api.schemas import INT4, Limit, Offset, OlderThan, SchemaBody
from api.services import among, caller, services
from commands.schemas import DeleteSchema, RestoreSchema, SetSchema
from infra.events import Committed
from queries.held_views import Entry
from queries.schemas import get_schema, get_schema_version, list_schema_versions
from queries.sources import HISTORY
from queries.views import SchemaVersionView, SchemaView, digest, json_array

router = APIRouter(prefix="/configurations/{id}/schema", tags=["schemas"], route_class=Route)

VersionNumber = Annotated[int, Path(description="A version number of the schema (1 is the first)")]
NO_SCHEMA = "no_schema"


def schema_answer(done: Committed) -> Response:
    """The schema as the change left it, with its ETag."""
    return json_response(SchemaView(**done.row), etag=str(done.revision))


@router.put(
    "",
    response_model=SchemaView,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 413, 415, 422, 503)},
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Set the configuration's JSON Schema (the body); refused (422) when it is not a valid schema "
    "or the current document does not satisfy it",
)
async def set_schema(id: ConfigurationId, body: SchemaBody, request: Request) -> Response:
    cmd = SetSchema(id, body.document, if_match(request))
    return schema_answer(await services(request).bus.dispatch(cmd, caller(request)))


@router.get(
    "",
    response_model=SchemaView,
    responses={200: {"headers": ETAG_HEADER}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    openapi_extra=CONDITIONAL_GET,
    summary="The configuration's JSON Schema (404 with code no_schema when it has none)",
)
async def get_configuration_schema(id: ConfigurationId, request: Request) -> Response:
    found = await services(request).db.query(get_schema, id, among(request))
    if not found.exists:
        return error_response(request, 404, f"configuration {id} does not exist")
    if found.schema is None:
        return error_response(request, 404, f"configuration {id} has no schema", code=NO_SCHEMA)
    return view_response(request, Entry(found.schema.render(), found.schema.etag))


@router.delete(
    "",
    status_code=204,
    responses=responses(404, 412, 422, 503),
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Remove the configuration's JSON Schema (its history stays, and a restore brings it back)",
)
async def delete_schema(id: ConfigurationId, request: Request) -> Response:
    await services(request).bus.dispatch(DeleteSchema(id, if_match(request)), caller(request))
    return Response(status_code=204)


@router.get(
    "/versions",
    response_model=list[SchemaVersionView],
    responses={200: {"headers": {**LINK, **ETAG_HEADER}}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    openapi_extra=CONDITIONAL_GET,
    summary="Every version of the configuration's schema, newest first, a page at a time",
)
async def list_versions_of_schema(
    id: ConfigurationId,
    request: Request,
    limit: Limit = 100,
    after: OlderThan = None,
    offset: Offset = 0,
) -> Response:
    one_way_to_page(request)
    page = await services(request).sources.query(
        HISTORY, list_schema_versions, id, limit, after, offset, among(request)
    )
    if page is None:
        return error_response(request, 404, f"configuration {id} does not exist")
    body = json_array([item.render() for item in page.items])
    return page_response(request, Entry(body, digest(body), next_after=page.next_after))


@router.get(
    "/versions/{version}",
    response_model=SchemaVersionView,
    responses={200: {"headers": ETAG_HEADER}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    openapi_extra=CONDITIONAL_GET,
    summary="One version of the configuration's schema",
)
async def get_version_of_schema(id: ConfigurationId, version: VersionNumber, request: Request) -> Response:
    view = None
    if 1 <= version <= INT4:
        view = await services(request).sources.query(HISTORY, get_schema_version, id, version, among(request))
    if view is None:
        return error_response(request, 404, f"the schema of configuration {id} has no version {version}")
    return view_response(request, Entry(view.render(), view.etag))


@router.post(
    "/versions/{version}/restore",
    response_model=SchemaView,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 422, 503)},
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Make a version of the schema current again, as a new version (422 when the current document "
    "does not satisfy it)",
)
async def restore_version_of_schema(id: ConfigurationId, version: VersionNumber, request: Request) -> Response:
    if not 1 <= version <= INT4:
        return error_response(request, 404, f"the schema of configuration {id} has no version {version}")
    cmd = RestoreSchema(id, version, if_match(request))
    return schema_answer(await services(request).bus.dispatch(cmd, caller(request)))
