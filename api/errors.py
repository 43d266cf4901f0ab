"""One error shape for every failure, the mapping from errors to statuses, and its OpenAPI docs."""

import logging
import re
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_serializer
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from commands.errors import (
    Conflict,
    Forbidden,
    InvalidCommand,
    InvalidSchema,
    NoSchema,
    NotFound,
    PreconditionFailed,
    SchemaViolations,
)
from infra.database import DatabaseUnavailable, Overloaded
from infra.ids import canonical_ulid
from infra.logs import Throttled
from queries.held import TooManyHeld

log = logging.getLogger("api")
# A flood of 503s logs a line a second per cause, not a line each.
unavailable_log = Throttled(log)

# The kinds of 503: code, message, and seconds a client should wait before retrying.
UNAVAILABLE = {
    DatabaseUnavailable: ("database_unavailable", "the database is unavailable; retry shortly", "2"),
    Overloaded: ("overloaded", "the service is busy; retry shortly", "1"),
    TooManyHeld: ("too_many_held", "this instance holds as many waiting requests as it may; retry shortly", "2"),
}


class ErrorDetail(BaseModel):
    location: str = Field(description="Where in the request: body.name, path.id, query.limit, body.config, ...")
    message: str
    path: str | None = Field(
        default=None,
        description="For a document (body.config, config, body.schema): the JSON Pointer (RFC 6901) of what "
        'is at fault in it, e.g. /db/pool; "" is the whole document. Absent otherwise.',
    )
    keyword: str | None = Field(
        default=None,
        description="For a violation of the configuration's JSON Schema: the schema keyword that failed "
        "(type, required, format, ...). Absent otherwise.",
    )

    @model_serializer(mode="wrap")
    def _without_absent(self, handler):
        # path and keyword appear only where they say something.
        data = handler(self)
        for name in ("path", "keyword"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


class ErrorBody(BaseModel):
    """The body of every error response."""

    code: str  # machine-readable, e.g. not_found, conflict, validation_error
    message: str
    details: list[ErrorDetail] = []
    request_id: str | None = None


CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    421: "misdirected_request",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
DESCRIPTIONS = {
    404: "The resource named in the URL does not exist",
    409: "The change conflicts with the current state: a name already taken, configurations left",
    412: "If-Match names no current ETag of the resource: it changed meanwhile; nothing was changed",
    413: "The body is larger than MAX_BODY_BYTES",
    415: "The body is not sent as application/json (PATCH: application/merge-patch+json)",
    422: "The request is invalid; `details` says where (code validation_error). A document that does not "
    "satisfy the configuration's schema: code schema_violation, one detail per violation with its `path` "
    "and `keyword`; a schema that is not valid: code invalid_schema",
    503: "The database is unavailable, the service overloaded, or (for a wait) holding as many waiting requests "
    "as it may; retry after `Retry-After` seconds",
}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}


def responses(*statuses: int) -> dict:
    """OpenAPI `responses` for the given error statuses."""
    docs: dict = {}
    for status in statuses:
        docs[status] = {"model": ErrorBody, "description": DESCRIPTIONS[status]}
        if status == 503:
            docs[status]["headers"] = RETRY_AFTER_HEADER
    return docs


def request_id(scope_or_request) -> str | None:
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return scope.get("state", {}).get("request_id")


def error_body(
    status: int, message: str, details: Iterable[ErrorDetail] = (), *, rid: str | None = None, code: str | None = None
) -> bytes:
    body = ErrorBody(code=code or CODES.get(status, "error"), message=message, details=list(details), request_id=rid)
    return body.model_dump_json().encode()


def error_response(
    request: Request,
    status: int,
    message: str,
    details: Iterable[ErrorDetail] = (),
    *,
    code: str | None = None,
    headers: dict | None = None,
) -> Response:
    return Response(
        error_body(status, message, details, rid=request_id(request), code=code),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


_UNPRINTABLE = re.compile("[\x00-\x1f\ud800-\udfff]")


def _clean(text: object, limit: int = 200) -> str:
    # Client text (e.g. an unknown field's name) is echoed only printable and short.
    return _UNPRINTABLE.sub("\ufffd", str(text))[:limit]


def _validation_details(exc: RequestValidationError) -> list[ErrorDetail]:
    details = []
    for error in exc.errors():
        location = ".".join(_clean(part) for part in error.get("loc", ()))
        message = _clean(error.get("msg", "invalid"), 500).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            message = f"invalid JSON: {_clean(error.get('ctx', {}).get('error', ''))}"
            location = "body"
        path = error.get("path")
        details.append(
            ErrorDetail(
                location=location or "request", message=message, path=None if path is None else _clean(path, 1000)
            )
        )
    return details


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, BaseRoute):
            match, child = route.matches(request.scope)
            # /tokens/current is not /tokens/{id}: an id is a ULID.
            if match != Match.NONE and _ids_are_ulids(child.get("path_params", {})):
                methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _ids_are_ulids(params: dict) -> bool:
    return "id" not in params or canonical_ulid(str(params["id"])) is not None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, "the request is invalid", _validation_details(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; list them all.
            headers = {"Allow": ", ".join(_allowed_methods(request))}
        return error_response(request, exc.status_code, message, headers=headers)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error_response(request, 404, str(exc))

    @app.exception_handler(NoSchema)
    async def no_schema(request: Request, exc: NoSchema) -> Response:
        return error_response(request, 404, str(exc), code="no_schema")

    @app.exception_handler(SchemaViolations)
    async def schema_violations(request: Request, exc: SchemaViolations) -> Response:
        details = [
            ErrorDetail(location=exc.location, message=v.message, path=v.path, keyword=v.keyword)
            for v in exc.violations
        ]
        if exc.more:
            details.append(ErrorDetail(location=exc.location, message=f"and {exc.more} more violations"))
        return error_response(request, 422, str(exc), details, code="schema_violation")

    @app.exception_handler(InvalidSchema)
    async def invalid_schema(request: Request, exc: InvalidSchema) -> Response:
        detail = ErrorDetail(location="body", message=str(exc), path=exc.path)
        return error_response(request, 422, "the schema is not valid", [detail], code="invalid_schema")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error_response(request, 403, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return error_response(request, 409, str(exc))

    @app.exception_handler(PreconditionFailed)
    async def precondition_failed(request: Request, exc: PreconditionFailed) -> Response:
        return error_response(request, 412, str(exc))

    @app.exception_handler(InvalidCommand)
    async def invalid_command(request: Request, exc: InvalidCommand) -> Response:
        detail = ErrorDetail(location=f"body.{exc.field}", message=str(exc))
        return error_response(request, 422, "the request is invalid", [detail])

    @app.exception_handler(DatabaseUnavailable)
    @app.exception_handler(Overloaded)
    @app.exception_handler(TooManyHeld)
    async def unavailable(request: Request, exc: DatabaseUnavailable | Overloaded | TooManyHeld) -> Response:
        code, message, retry_after = UNAVAILABLE[type(exc)]
        # The cause goes to the log only: it may name hosts or SQL.
        cause = f"{code}: {exc}"
        unavailable_log.warning(cause, "503 %s [request_id=%s]", cause, request_id(request))
        return error_response(request, 503, message, code=code, headers={"Retry-After": retry_after})


def handler_for(app, exc: Exception):
    """The app's handler for this exception (the nearest of its classes), or None."""
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            return handler
    return None


async def send_error(
    send, status: int, message: str, rid: str, headers: dict | None = None, *, code: str | None = None
) -> None:
    """An error answered by a middleware, before any route: the same shape as the others."""
    body = error_body(status, message, rid=rid, code=code)
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
