"""What the routes work with, made once by the app's lifespan (see `api.app`), and the few
ways they answer."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import principal
from api.conditional import not_modified, not_modified_response, quoted
from api.errors import request_id
from infra.database import Database
from infra.writes import Origin
from queries.feed import ChangeFeed
from queries.read_model import Entry, ReadModel
from queries.tokens import TokenTable


@dataclass(frozen=True)
class Services:
    db: Database
    reads: ReadModel
    feed: ChangeFeed
    tokens: TokenTable
    refresh_tokens: Callable[[], Awaitable[None]]

    def end_waits(self) -> None:
        """Shutting down: held requests (watches, feed waits) answer now."""
        self.reads.end_watches()
        self.feed.end_waits()

    def written(
        self, revision: int, id: str, name: str | None, application_id: str | None = None, deleted: bool = False
    ) -> None:
        """A write of this instance committed `revision`, changing an application (`id`) or
        one of its configurations, now named `name` (None when `deleted`): later reads here
        must show it, before its announcement arrives."""
        self.feed.written(revision)
        followed = self.reads.revision
        if followed is not None and revision <= followed:
            # Its announcement came first (perhaps with later changes from elsewhere, which
            # this older news must not undo): the read model already shows it.
            return
        if application_id is None:
            self.reads.application_changed(id, name, deleted)
        else:
            self.reads.configuration_changed(id, application_id, name, deleted)


def services(request: Request) -> Services:
    return request.app.state.services


def origin(request: Request) -> Origin:
    """Who makes a change (the token's name), and in which request, for the change feed."""
    return Origin(actor=principal(request).name, request_id=request_id(request))


def json_response(
    body: BaseModel | bytes, status: int = 200, headers: dict | None = None, etag: str | None = None
) -> Response:
    content = body if isinstance(body, bytes) else body.model_dump_json().encode()
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
