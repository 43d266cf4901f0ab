"""The one middleware every request passes: request ids, which sites may use the service
(api/cross_site.py: Host, Origin, CORS), the body limit and type, the API's answer headers,
and errors.

Every error a route, the router or a middleware inside this one raises is answered here, by
the app's exception handlers (api/errors.py), in the one error shape; anything they do not
know is a bug: a 500, logged once with the request id. (Starlette's own error middlewares are
left out of the stack: api/app.py.)

It also counts and times every request (infra/metrics.py: a few operations), and with
`access_log` writes one line for it: who, what, the route, the status, how long, its id.

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

from api.cross_site import HEALTH_PATH, PREFLIGHT, SAFE_METHODS, CrossSite
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


BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes")


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, cross_site: CrossSite | None = None, access_log: bool = False
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.cross_site = cross_site or CrossSite(None, None)
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
        rid, length, content_type, authorization, host, origin, chunked = _read_headers(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["authorization"] = authorization  # for api/auth.py: one pass over the headers
        id_header = (b"x-request-id", rid.encode())
        added = (id_header, *API_HEADERS) if is_api else (id_header,)
        cross_site = self.cross_site
        if origin is not None and cross_site.origins:
            added = (*added, *cross_site.cors_headers(origin))
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
            if not cross_site.any_host and path != HEALTH_PATH and not cross_site.host_allowed(host):
                message = "this service does not answer to that Host; see ALLOWED_HOSTS"
                await send_error(send_with_id, 421, message, rid)
                return
            method = scope["method"]
            if origin is not None and method not in SAFE_METHODS and cross_site.foreign(origin, scope, host):
                message = "a page of another site may not change anything here; see ALLOWED_ORIGINS"
                await send_error(send_with_id, 403, message, rid, code="cross_origin")
                return
            if method == "OPTIONS" and origin is not None and origin in cross_site.origins:
                # A preflight from an allowed origin (no other gets one: a browser then refuses).
                await send_with_id({"type": "http.response.start", "status": 204, "headers": list(PREFLIGHT)})
                await send_with_id({"type": "http.response.body", "body": b""})
                return

            if length is not None and length > self.max_body_bytes:
                # Refuse before reading a byte of it.
                await send_error(send_with_id, 413, f"the body is larger than {self.max_body_bytes} bytes", rid)
                return

            has_body = chunked or bool(length)
            if has_body or content_type is not None:
                # A body of no declared type is what a page of another site can send without
                # asking (a typeless Blob): a body is JSON, whatever the method, or refused unread.
                if (has_body or method in BODY_METHODS) and (content_type is None or not _is_json(content_type)):
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
                    message = "internal error; quote the request id when reporting it"
                    await send_error(send_with_id, 500, message, rid)
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


def _read_headers(
    scope: Scope,
) -> tuple[str, int | None, bytes | None, bytes | None, bytes | None, bytes | None, bool]:
    """The request id (the client's when it sent a sane one), body length, content type,
    Authorization, Host and Origin headers, and whether the body comes in chunks."""
    rid = length = content_type = authorization = host = origin = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
        elif name == b"content-length":
            with contextlib.suppress(ValueError):
                length = int(value)
        elif name == b"content-type":
            content_type = value
        elif name == b"x-request-id" and _CLIENT_ID.match(value):
            rid = value.decode()
        elif name == b"authorization":
            authorization = value
        elif name == b"origin":
            origin = value
        elif name == b"transfer-encoding":
            chunked = True
    return rid or f"{_PREFIX}-{next(_counter):x}", length, content_type, authorization, host, origin, chunked


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )
