"""The few ways a route answers: a JSON body, a held view (or 304), a page with its Link."""

from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel

from api.conditional import not_modified, not_modified_response, quoted
from queries.held_views import Entry


def json_response(
    body: BaseModel | bytes, status: int = 200, headers: dict | None = None, etag: str | None = None
) -> Response:
    """`body`: JSON bytes, or a model (a view is sent as it renders itself: queries/views.py)."""
    if isinstance(body, bytes):
        content = body
    else:
        render = getattr(body, "render", None)
        content = render() if render is not None else body.model_dump_json().encode()
    if etag is not None:
        headers = {**(headers or {}), "ETag": quoted(etag)}
    return Response(content, status_code=status, media_type="application/json", headers=headers)


def view_response(request: Request, entry: Entry, headers: dict | None = None) -> Response:
    """A held view, or 304 when the client's copy is current."""
    if not_modified(request, entry.etag):
        return not_modified_response(entry.etag)
    return json_response(entry.body, headers=headers, etag=entry.etag)


def page_response(request: Request, entry: Entry) -> Response:
    """A page of a list, with a Link to the next page while more remain."""
    headers = None
    if entry.next_after is not None:
        query = {k: v for k, v in request.query_params.items() if k not in ("after", "offset")}
        query["after"] = entry.next_after
        headers = {"Link": f'<{request.url.path}?{urlencode(query)}>; rel="next"'}
    return view_response(request, entry, headers)


def one_way_to_page(request: Request) -> None:
    """`after` (keyset) and `offset` (position) page differently: a request uses one."""
    if "after" in request.query_params and "offset" in request.query_params:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "offset"), "msg": "use either offset or after, not both"}]
        )
