"""The one middleware every request passes: request ids, the body limit, the API's answer
headers, and errors.

Every error a route, the router or a middleware inside this one raises is answered here, by
the app's exception handlers (api/errors.py), in the one error shape; anything they do not
know is a bug: a 500, logged once with the request id. (Starlette's own error middlewares are
left out of the stack: api/app.py.)

Plain ASGI, not BaseHTTPMiddleware: it sits on the hot path of every read.
"""

import contextlib
import itertools
import logging
import os
import re
from time import perf_counter

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import handler_for, send_error
from infra import metrics

log = logging.getLogger("api")
access = logging.getLogger("api.access")

_CLIENT_ID = re.compile(rb"^[\x21-\x7e]{1,128}$")
_PREFIX = os.urandom(4).hex()
_counter = itertools.count(1)
# On every /api answer: configurations may hold what no shared or browser cache should keep, and
# a browser must not guess a type other than the one the answer declares.
API_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
# The route label of requests that matched no route of the app (404s, the console's files).
OTHER_ROUTES = "(other)"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes")


class RequestContextMiddleware:
    """Also counts and times every request (infra/metrics.py: a few operations), and with
    `access_log` writes one line for it: who, what, the route, the status, how long, its id."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, access_log: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        arrived = perf_counter()
        path = scope["path"]
        is_api = path.startswith("/api/")
        if is_api and path.endswith("/"):
            # Served, not redirected: a redirect names this host, which breaks behind a proxy.
            scope["path"] = path.rstrip("/")
        rid, length, content_type, authorization = _read_headers(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["authorization"] = authorization  # for api/auth.py: one pass over the headers
        id_header = (b"x-request-id", rid.encode())
        added = (id_header, *API_HEADERS) if is_api else (id_header,)
        started = False
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            if length is not None and length > self.max_body_bytes:
                # Refuse before reading a byte of it.
                await send_error(send_with_id, 413, f"the body is larger than {self.max_body_bytes} bytes", rid)
                return

            if scope["method"] in ("POST", "PUT", "PATCH"):
                if content_type is not None and not _is_json(content_type):
                    await send_error(send_with_id, 415, "send the body as application/json", rid)
                    return
                receive = self._limited(receive)
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                handler = None if started else handler_for(scope["app"], exc)
                if handler is not None:
                    response = await handler(Request(scope, receive, send_with_id), exc)
                    await response(scope, receive, send_with_id)
                    return
                # Everything expected has a handler; this is a bug.
                log.exception("500 on %s %s [request_id=%s]", scope["method"], scope["path"], rid)
                if not started:
                    await send_error(send_with_id, 500, "internal error; quote the request id when reporting it", rid)
        finally:
            # Counted however it ended (a client gone mid-answer counts with the status sent).
            route = scope.get("route")
            template = route.path_format if route is not None else OTHER_ROUTES
            seconds = perf_counter() - arrived
            metrics.requests.record(template, scope["method"], status, seconds)
            if self.access_log:
                self._log(scope, template, status, seconds, rid)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, seconds: float, rid: str) -> None:
        client = scope["client"][0] if scope.get("client") else "-"
        query = scope["query_string"]
        path = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        access.info(
            '%s "%s %s" %d %.1f ms [request_id=%s]',
            client,
            scope["method"],
            path,
            status,
            seconds * 1000,
            rid,
            extra={
                "request_id": rid,
                "client": client,
                "method": scope["method"],
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
            },
        )

    def _limited(self, receive: Receive) -> Receive:
        # Chunked bodies announce no length: count them as they arrive.
        received = 0
        limit = self.max_body_bytes

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return receive_limited


def _read_headers(scope: Scope) -> tuple[str, int | None, bytes | None, bytes | None]:
    """The request id (the client's when it sent a sane one), body length, content type and
    Authorization header."""
    rid = length = content_type = authorization = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                length = int(value)
        elif name == b"content-type":
            content_type = value
        elif name == b"x-request-id" and _CLIENT_ID.match(value):
            rid = value.decode()
        elif name == b"authorization":
            authorization = value
    return rid or f"{_PREFIX}-{next(_counter):x}", length, content_type, authorization


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )
