"""The one route class of the service: every router uses `Route`.

FastAPI works out every route's inputs per request, generically (path, query, headers,
cookies, body, dependencies): a third of the cost of a read served from memory. A `Route`
works out at import what its endpoint takes, and per request reads exactly that:

- `request`;
- path parameters: a ULID (`infra.ids.UlidParam`, checked and made canonical), a name
  (`NameSegment`: matched on the raw path, one percent-encoded name per segment, so a name may
  hold '/', '%', '?', '#' or anything else), or any other type pydantic validates;
- query parameters, `Annotated[type, Query(...)]` with a default, validated together by one
  pydantic model built at import;
- `body`: a pydantic model validated from the raw JSON by pydantic-core, or read by the
  model's own `from_json(raw)` when it has one (a body holding a document: api/schemas.py);
  and, when its `Body(media_type=...)` names one, only that media type (else 415).

An endpoint that takes anything else is refused at import, and so is a route that does not
declare who may call it (api/auth.py: `needs(...)` or `PUBLIC`); the declaration is checked
before any input is read. Bad input raises the RequestValidationError FastAPI would (a 422),
and the OpenAPI entry comes from the endpoint's signature as usual. Errors go to the app's
handlers in api/middleware.py.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from api.auth import EVERYONE, Needs, Public
from infra.ids import ULID_ERROR, canonical_ulid, is_ulid_param


class NameSegment:
    """Marks a path parameter that is a name: `Annotated[str, Path(...), NameSegment()]`."""


class Route(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        declared = [d for d in self.dependencies if isinstance(d, (Needs, Public))]
        if len(declared) != 1:
            raise TypeError(
                f"{self.name} ({path}) must declare who may call it once: dependencies=needs(...) or PUBLIC"
            )
        self.access: Needs | Public = declared[0]
        self.app = self._asgi_app()

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        # FastAPI's generic handler is never used: see _asgi_app.
        return _unused

    # -- what the endpoint takes, worked out once --------------------------------------

    def _asgi_app(self):
        endpoint = self.endpoint
        hints = get_type_hints(endpoint, include_extras=True)
        path_names = set(self.param_convertors)
        takes_request = False
        paths: list[tuple[str, Callable[[str], Any] | None]] = []  # (name, converter; None: as it is)
        names: list[str] = []  # NameSegment parameters, in path order
        queries: dict[str, tuple[Any, Any]] = {}
        body_model: type[BaseModel] | None = None
        media_type: str | None = None
        for name, parameter in inspect.signature(endpoint).parameters.items():
            annotation = hints.get(name, parameter.annotation)
            metadata = get_args(annotation)[1:] if get_origin(annotation) is Annotated else ()
            if name == "request":
                takes_request = True
            elif name in path_names:
                if any(isinstance(m, NameSegment) for m in metadata):
                    names.append(name)
                elif is_ulid_param(annotation):
                    paths.append((name, None))
                else:
                    paths.append((name, TypeAdapter(annotation).validate_python))
            elif name == "body":
                body_model = get_args(annotation)[0] if metadata else annotation
                media_type = next((m.media_type for m in metadata if isinstance(m, params.Body)), None)
                if not (isinstance(body_model, type) and issubclass(body_model, BaseModel)):
                    raise TypeError(f"{self.name}: `body` must be a pydantic model")
            elif (
                any(isinstance(m, params.Query) for m in metadata) and parameter.default is not inspect.Parameter.empty
            ):
                queries[name] = (annotation, parameter.default)
            elif any(isinstance(m, params.Query) for m in metadata):
                queries[name] = (annotation, ...)
            else:
                raise TypeError(f"{self.name}: Route cannot read parameter {name!r} (request, path, Query or body)")
        if not takes_request:
            raise TypeError(f"{self.name}: an endpoint takes the request")
        if names and (len(names) != len(path_names) or paths):
            raise TypeError(f"{self.name}: a name route takes names only, one per trailing segment")
        # A name route: a fixed prefix, one name per segment, perhaps a fixed suffix.
        self.name_prefix = self.path_format.split("{", 1)[0].encode() if names else None
        self.name_suffix = self.path_format.rsplit("}", 1)[1].encode() if names else b""
        query_model = create_model(f"{self.name}_query", **queries) if queries else None
        defaults = query_model.model_validate({}).__dict__ if query_model and not _required(queries) else None
        read_body = getattr(body_model, "from_json", None) or getattr(body_model, "model_validate_json", None)
        access = self.access
        check = isinstance(access, Needs) and (access.scope != "read" or access.every_application)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if check:
                refusal = access.refusal(scope["state"].get("principal", EVERYONE))
                if refusal is not None:
                    raise HTTPException(403, refusal)
            request = Request(scope, receive, send)
            inputs: dict[str, Any] = scope["path_params"].copy() if names else {}
            if takes_request:
                inputs["request"] = request
            errors: list[dict] = []
            if paths:
                given = scope["path_params"]
                for name, convert in paths:
                    raw = given[name]
                    if convert is None:
                        inputs[name] = value = canonical_ulid(raw)
                        if value is None:
                            errors.append(
                                {"type": "ulid_format", "loc": ("path", name), "msg": ULID_ERROR, "input": raw}
                            )
                    else:
                        try:
                            inputs[name] = convert(raw)
                        except ValidationError as exc:
                            errors += [{**e, "loc": ("path", name, *e["loc"])} for e in exc.errors()]
            if query_model is not None:
                if defaults is not None and not scope["query_string"]:
                    inputs.update(defaults)
                else:
                    try:
                        inputs.update(query_model.model_validate(dict(request.query_params)).__dict__)
                    except ValidationError as exc:
                        errors += [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
            if media_type is not None and _media_type(request) != media_type:
                raise HTTPException(415, f"send the body as {media_type}")
            if body_model is not None:
                try:
                    inputs["body"] = read_body(await request.body())
                except ValidationError as exc:
                    errors += [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
                except RequestValidationError as exc:  # from_json's own, located already
                    errors += exc.errors()
            if errors:
                raise RequestValidationError(errors)
            response = await endpoint(**inputs)
            await response(scope, receive, send)

        return app

    # -- matching -----------------------------------------------------------------------

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.name_prefix is None:
            return super().matches(scope)
        if scope["type"] != "http":
            return Match.NONE, {}
        raw = scope.get("raw_path") or scope["path"].encode()
        if raw.endswith(b"/"):  # a trailing slash
            raw = raw[:-1]
        if not raw.startswith(self.name_prefix) or not raw.endswith(self.name_suffix):
            return Match.NONE, {}
        segments = raw[len(self.name_prefix) : len(raw) - len(self.name_suffix)].split(b"/")
        if len(segments) != len(self.param_convertors) or b"" in segments:
            return Match.NONE, {}
        if b"\x00" in raw or b"%00" in raw:
            return Match.NONE, {}  # a NUL, which PostgreSQL text cannot hold
        try:
            # Percent-decoded only when a segment needs it: most names are sent as they are.
            values = [(unquote_to_bytes(s) if b"%" in s else s).decode() for s in segments]
        except UnicodeDecodeError:
            return Match.NONE, {}  # no name is stored that way
        child = {
            "endpoint": self.endpoint,
            "path_params": dict(zip(self.param_convertors, values, strict=True)),
            "route": self,  # as FastAPI's own matching sets it: the metrics' route label
        }
        return (Match.FULL if scope["method"] in self.methods else Match.PARTIAL), child


async def _unused(request: Request) -> Response:
    raise RuntimeError("Route serves its endpoint itself")


def _required(queries: dict[str, tuple[Any, Any]]) -> bool:
    return any(default is ... for _, default in queries.values())


def header(request: Request, name: bytes) -> str | None:
    """A request header's value (`name` in lower case), None when absent. One pass over the
    raw headers: Starlette's `request.headers.get` raises and catches KeyError for each header
    a request does not carry, which the hot reads ask for (If-None-Match, X-Client-Id)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _media_type(request: Request) -> str:
    return (header(request, b"content-type") or "").split(";", 1)[0].strip().lower()
