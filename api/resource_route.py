"""The route class of the API's resource routes.

FastAPI works out every route's inputs per request, generically (path, query, headers,
cookies, body): a third of the cost of a read served from memory, and a good part of a write.
Most routes here take at most three inputs, by name: `id` (a ULID in the path, checked by
the same rule as `UlidParam`), `body` (a pydantic model, validated from the raw JSON by
pydantic-core) and `request`; for them this class reads the inputs itself and calls the
endpoint directly. Any other route is handled by FastAPI as usual. Either way the OpenAPI
entry comes from the endpoint's signature, and bad input raises the RequestValidationError
FastAPI would (a 422).
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, get_args, get_origin

from fastapi import HTTPException, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.ids import ULID_ERROR, canonical_ulid

DIRECT_INPUTS = ("id", "body", "request")


def direct(handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """The route's ASGI app, without Starlette's per-route wrapping: exceptions go straight to
    the app's own handlers (ExceptionMiddleware applies the same ones). A request held for a
    watch keeps every frame of its call chain alive; fewer frames, more watches per MB."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


class ResourceRoute(APIRoute):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.app = direct(self.get_route_handler())

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        signature = inspect.signature(self.endpoint)
        names = list(signature.parameters)
        if not set(names) <= set(DIRECT_INPUTS) or "request" not in names:
            return super().get_route_handler()
        endpoint = self.endpoint
        takes_id = "id" in names
        body_model: type[BaseModel] | None = None
        media_type: str | None = None  # the one body type the route takes, when it names one
        if "body" in names:
            body_model = signature.parameters["body"].annotation
            if get_origin(body_model) is Annotated:  # Annotated[Model, Body(media_type=...)]
                body_model, *extras = get_args(body_model)
                media_type = next((extra.media_type for extra in extras if isinstance(extra, params.Body)), None)

        async def handle(request: Request) -> Response:
            inputs: dict = {"request": request}
            errors: list[dict] = []
            if takes_id:
                raw = request.path_params["id"]
                inputs["id"] = canonical_ulid(raw)
                if inputs["id"] is None:
                    errors.append({"type": "ulid_format", "loc": ("path", "id"), "msg": ULID_ERROR, "input": raw})
            if media_type is not None and _media_type(request) != media_type:
                raise HTTPException(415, f"send the body as {media_type}")
            if body_model is not None:
                try:
                    inputs["body"] = body_model.model_validate_json(await request.body())
                except ValidationError as exc:
                    errors += [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            if errors:
                raise RequestValidationError(errors)
            return await endpoint(**inputs)

        return handle


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
