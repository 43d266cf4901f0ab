"""/api/v1/configurations/{id}/versions: a configuration's history, and restoring a version."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.auth import needs
from api.conditional import ETAG_HEADER, if_match
from api.configurations import ConfigurationId, configuration_answer
from api.errors import error_response, responses
from api.openapi import CONDITIONAL_CHANGE, CONDITIONAL_GET, LINK, NOT_MODIFIED
from api.responses import one_way_to_page, page_response, view_response
from api.routing import Route
from api.schemas import INT4, Limit, Offset, OlderThan
from api.services import among, caller, reveals, services
from commands.restores import RestoreConfiguration
from queries.held_views import Entry
from queries.sources import HISTORY
from queries.versions import get_version, list_versions
from queries.views import ConfigurationView, VersionView, digest, json_array

router = APIRouter(prefix="/configurations/{id}/versions", tags=["history"], route_class=Route)

VersionNumber = Annotated[int, Path(description="A version number (1 is the first)")]


@router.get(
    "",
    response_model=list[VersionView],
    responses={200: {"headers": {**LINK, **ETAG_HEADER}}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    openapi_extra=CONDITIONAL_GET,
    summary="Every version of a configuration, newest first, a page at a time (kept after deletion)",
)
async def list_configuration_versions(
    id: ConfigurationId,
    request: Request,
    limit: Limit = 100,
    after: OlderThan = None,
    offset: Offset = 0,
) -> Response:
    one_way_to_page(request)
    svc = services(request)
    page = await svc.sources.query(HISTORY, list_versions, id, limit, after, offset, among(request))
    if page is None:
        return error_response(request, 404, f"configuration {id} does not exist")
    reveal, keyring = reveals(request), svc.reads.keyring
    body = json_array([item.shown(reveal, keyring, id).render() for item in page.items])
    return page_response(request, Entry(body, digest(body), next_after=page.next_after))


@router.get(
    "/{version}",
    response_model=VersionView,
    responses={200: {"headers": ETAG_HEADER}, **NOT_MODIFIED, **responses(404, 422, 503)},
    dependencies=needs("read"),
    openapi_extra=CONDITIONAL_GET,
    summary="One version of a configuration",
)
async def get_configuration_version(id: ConfigurationId, version: VersionNumber, request: Request) -> Response:
    view = None
    svc = services(request)
    if 1 <= version <= INT4:
        view = await svc.sources.query(HISTORY, get_version, id, version, among(request))
    if view is None:
        return error_response(request, 404, f"configuration {id} has no version {version}")
    shown = view.shown(reveals(request), svc.reads.keyring, id)
    return view_response(request, Entry(shown.render(), view.etag))


@router.post(
    "/{version}/restore",
    response_model=ConfigurationView,
    responses={200: {"headers": ETAG_HEADER}, **responses(404, 409, 412, 422, 503)},
    dependencies=needs("write"),
    openapi_extra=CONDITIONAL_CHANGE,
    summary="Make a version's name, comments and config current again, as a new version",
)
async def restore_configuration_version(id: ConfigurationId, version: VersionNumber, request: Request) -> Response:
    if not 1 <= version <= INT4:
        return error_response(request, 404, f"configuration {id} has no version {version}")
    cmd = RestoreConfiguration(id, version, if_match(request))
    return configuration_answer(request, await services(request).bus.dispatch(cmd, caller(request)))
