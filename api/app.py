"""The app factory and its lifespan: the one place where the service is wired together."""

import asyncio
import logging
from contextlib import asynccontextmanager
from functools import partial

from fastapi import APIRouter, FastAPI
from starlette.middleware.errors import ServerErrorMiddleware

import migrations
from api import applications, changes, config, configurations, health, tokens, versions
from api.auth import AuthMiddleware, FailureLimiter, announce_mode, auth_mode, document_security
from api.config import ClientPathMiddleware
from api.console import mount_console
from api.docs import mount_docs
from api.errors import install_error_handlers
from api.middleware import RequestContextMiddleware
from api.services import Services
from infra.database import Database, describe
from infra.listener import ChangeListener
from infra.settings import Settings
from queries.follow import ReadSide
from queries.tokens import TokenTable

log = logging.getLogger("api")

API_PREFIX = "/api/v1"
# Where the database announces changes (migrations/0003_revisions_versions_and_changes.sql).
CHANGES_CHANNEL = "config_changes"


def create_app(settings: Settings) -> FastAPI:
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url")
    active_tokens = TokenTable()  # filled by the lifespan, read by every request

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        db = await loop.run_in_executor(
            None,
            partial(
                Database.open,
                settings.database_url,
                wait=settings.db_startup_wait,
                read_workers=settings.db_read_workers,
                write_workers=settings.db_write_workers,
                max_batch=settings.db_write_batch,
                connect_timeout=settings.db_connect_timeout,
                statement_timeout_ms=settings.db_statement_timeout_ms,
                queue_max=settings.db_queue_max,
                queue_timeout=settings.db_queue_timeout,
            ),
        )
        try:
            version = db.server_version
            log.info(
                "database %s: PostgreSQL %d.%d", describe(settings.database_url), version // 10000, version % 10000
            )
            if settings.migrate_on_start:
                applied = await loop.run_in_executor(None, migrations.migrate, settings.database_url)
                log.info("migrations: %d applied at start", len(applied))
            side = ReadSide(db, settings.read_cache_max_bytes, active_tokens)
            listener = ChangeListener(
                settings.database_url,
                CHANGES_CHANNEL,
                on_payloads=side.announced,
                on_listening=side.listening,
                position=side.catch_up,
                connect_timeout=settings.db_connect_timeout,
            )
            listener.start(loop)
            # Serve warm: nothing before the read model holds what it can (or the wait ends).
            try:
                await asyncio.wait_for(side.reads.ready.wait(), settings.db_startup_wait)
            except TimeoutError:
                log.warning("read model not loaded after %.0fs; serving from the database", settings.db_startup_wait)
            app.state.services = Services(
                db=db, reads=side.reads, feed=side.feed, tokens=side.tokens, refresh_tokens=side.refresh_tokens
            )
            announce_mode(settings, mode, side.tokens.has_admin())
            try:
                yield
            finally:
                await loop.run_in_executor(None, listener.stop)
        finally:
            await loop.run_in_executor(None, db.close)

    app = _App(
        title="Config Service",
        version="1.0.0",
        summary="Applications and their named JSON configurations",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load from a CDN: api/docs.py serves them instead
        redoc_url=None,
    )
    install_error_handlers(app)
    mode = auth_mode(settings)
    # The last added runs first: request ids and the body limit, then who is asking, then
    # the client path's shortcut to its routes.
    limiter = FailureLimiter(settings.auth_failure_limit, block=settings.auth_failure_block)
    app.add_middleware(ClientPathMiddleware)
    app.add_middleware(AuthMiddleware, mode=mode, tokens=active_tokens, limiter=limiter)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    if mode == "tokens":
        document_security(app)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(applications.router)
    api.include_router(configurations.router)
    api.include_router(versions.router)
    api.include_router(changes.router)
    api.include_router(config.router)
    api.include_router(tokens.router)
    app.include_router(api)
    app.include_router(health.router)
    mount_console(app)
    mount_docs(app)
    _hot_routes_first(app)
    return app


class _App(FastAPI):
    def build_middleware_stack(self):
        # Starlette puts its ServerErrorMiddleware outside everything; the request context
        # middleware inside it already turns any error into the one error shape, so it would
        # only cost every request (and every held watch) a frame.
        stack = super().build_middleware_stack()
        return stack.app if isinstance(stack, ServerErrorMiddleware) else stack


# What client services read most, in the order a request is matched against the routes.
HOT_ROUTES = (
    "/api/v1/config/{application_name}/{configuration_name}",
    "/api/v1/config/{application_name}",
    "/api/v1/configurations/{id}",
    "/api/v1/applications/{id}",
)


def _hot_routes_first(app: FastAPI) -> None:
    """A request is matched against the routes in order, and each miss costs a regular
    expression: the hot reads go first (no two routes match the same request, so order
    changes nothing else). The OpenAPI document keeps the order the routes are declared in."""
    app.openapi()

    def heat(route) -> int:
        path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or set()
        return HOT_ROUTES.index(path) if path in HOT_ROUTES and "GET" in methods else len(HOT_ROUTES)

    app.router.routes.sort(key=heat)
