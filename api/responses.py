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
    return JSONBytes(content, status, headers)


class JSONBytes(Response):
    """A rendered JSON body and its headers, made straight into the bytes sent (Starlette's
    Response first looks through the headers for a length and a type: this is the hot path of
    every read)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        raw = [(b"content-length", b"%d" % len(body)), _JSON_TYPE]
        if headers:
            for name, value in headers.items():
                raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        self.raw_headers = raw


_JSON_TYPE = (b"content-type", b"application/json")


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
