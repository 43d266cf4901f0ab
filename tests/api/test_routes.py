"""Every route says who may call it where it is declared, and one route class serves them all:
a route that declares nothing, or takes what the class cannot read, is refused at import."""

from typing import Annotated

import pytest
from fastapi import APIRouter, Path, Request
from starlette.routing import Mount

from api.app import create_app
from api.auth import PUBLIC, Needs, Public, needs
from api.routing import Route
from tests.support import app_settings


def test_every_route_of_the_app_declares_who_may_call_it():
    app = create_app(app_settings("postgresql://nowhere/never"))
    undeclared = [
        getattr(route, "path", route)
        for route in app.routes
        if not isinstance(getattr(route, "access", None), (Needs, Public))
    ]
    assert undeclared == []
    # Everything is one Route but the OpenAPI document (the framework's) and the console's files.
    others = {route.path for route in app.routes if not isinstance(route, (Route, Mount))}
    assert others == {"/openapi.json"}
    assert all(isinstance(route, Route) for route in app.routes if getattr(route, "path", "").startswith("/api/"))


def test_a_route_that_declares_nothing_is_refused_at_import():
    router = APIRouter(route_class=Route)
    with pytest.raises(TypeError, match="must declare who may call it"):

        @router.get("/undeclared")
        async def undeclared(request: Request): ...


def test_a_route_that_declares_twice_is_refused_at_import():
    router = APIRouter(route_class=Route)
    with pytest.raises(TypeError, match="must declare who may call it"):

        @router.get("/twice", dependencies=[*needs("read"), *PUBLIC])
        async def twice(request: Request): ...


def test_an_input_the_route_class_cannot_read_is_refused_at_import():
    router = APIRouter(route_class=Route)
    with pytest.raises(TypeError, match="cannot read parameter 'x_token'"):

        @router.get("/header", dependencies=needs("read"))
        async def header(request: Request, x_token: str): ...

    with pytest.raises(TypeError, match="takes the request"):

        @router.get("/{id}", dependencies=needs("read"))
        async def no_request(id: Annotated[int, Path()]): ...
