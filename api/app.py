"""The app factory and its lifespan: the one place where the service is wired together.

write: route -> command -> CommandBus (commands/bus.py) -> the write lane -> Committed
       -> ReadSide.committed (queries/follow.py): this instance shows it at once
every change, by whoever: the database records it and announces it (migrations/0003)
       -> ChangeListener (infra/listener.py) -> ReadSide.announced: every instance follows
read:  route -> the read model (queries/read_model.py), or a query (queries/) -> view; the
       reads a replica may serve go through ReadSources (queries/sources.py) -> a replica that
       shows what this instance has shown (infra/replicas.py), else the primary
"""

import asyncio
import logging
from contextlib import asynccontextmanager
from functools import partial

from fastapi import APIRouter, FastAPI

import migrations
from api import (
    applications,
    changes,
    config,
    configuration_schemas,
    configurations,
    health,
    probes,
    rollouts,
    tokens,
    versions,
)
from api.auth import PUBLIC, AuthMiddleware, FailureLimiter, announce_mode, auth_mode, document_security
from api.background import Background
from api.console import mount_console
from api.cross_site import CrossSite
from api.docs import mount_docs
from api.errors import install_error_handlers
from api.metrics import METRICS_PATH, metrics_router
from api.middleware import RequestContextMiddleware
from api.secret_keys import KeyHolder
from api.services import Services
from api.token_use import TokenUses
from commands.bus import CommandBus
from infra import metrics
from infra.database import Database, describe
from infra.health import DatabaseCheck
from infra.keyring import Keyring
from infra.listener import ChangeListener
from infra.peers import Peers
from infra.replicas import Replicas
from infra.settings import Settings
from queries.changes import LATEST_REVISION
from queries.fleet import Sightings
from queries.follow import ReadSide
from queries.held import HeldRequests
from queries.tokens import TokenTable

log = logging.getLogger("api")

API_PREFIX = "/api/v1"
# Where the database announces changes (migrations/0003_revisions_versions_and_changes.sql).
CHANGES_CHANNEL = "config_changes"


def create_app(settings: Settings, peers: Peers | None = None) -> FastAPI:
    """The app; `peers`: the other workers of this service, when it runs several (infra/workers.py)."""
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url")
    active_tokens = TokenTable()  # filled by the lifespan, read by every request
    token_uses = TokenUses()  # noted by every request, written by the lifespan's task
    # The keys of secret values, read now: a key file that cannot be used stops the start.
    keyring = Keyring(settings.secrets_keys)

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
            held = HeldRequests(settings.max_held_requests)  # one bound for watches and feed waits
            health = DatabaseCheck(
                settings.database_url, probe=LATEST_REVISION, connect_timeout=settings.db_connect_timeout
            )
            health.start()  # what /health, readiness and the metrics answer from
            replicas = Replicas(
                settings.database_replica_urls or (),
                db,
                wait=settings.replica_wait_ms / 1000,
                max_lag=settings.replica_max_lag_s,
                workers=settings.db_read_workers,
                connect_timeout=settings.db_connect_timeout,
                statement_timeout_ms=settings.db_statement_timeout_ms,
                queue_max=settings.db_queue_max,
                queue_timeout=settings.db_queue_timeout,
                primary_revision=lambda: health.answer,  # the primary's latest, as its check last read it
            )
            replicas.start(loop)  # before the listener, whose first snapshot may be read on one
            keys = KeyHolder(db, keyring)
            side = ReadSide(
                db, settings.read_cache_max_bytes, active_tokens, held, peers, replicas, keyring, keys.reload
            )
            # The read model knows each configuration's secret pointers: the write side's hint.
            bus = CommandBus(db, keyring=keyring, secrets_hint=side.reads.secrets_of)
            bus.subscribe(side.committed)  # this instance's own changes, before their answer

            def listening(state: bool, caught_up: object) -> None:
                if not state:  # the pool's connections may lead where the listener's did
                    db.renew_connections()
                side.listening(state, caught_up)

            listener = ChangeListener(
                db.hosts,
                CHANGES_CHANNEL,
                on_payloads=side.announced,  # everyone's changes, in commit order
                on_listening=listening,
                position=side.catch_up,
                on_heard=side.heard,  # token changes, read again at once
                connect_timeout=settings.db_connect_timeout,
            )
            listener.start(loop)
            token_uses.start(db)
            keys.start()  # which secret keys this instance holds, said every 15 s
            stop_sampling, flushing, background = None, None, None
            sightings = Sightings()
            try:
                # Serve warm: nothing before the read model holds what it can (or the wait ends).
                try:
                    await asyncio.wait_for(side.reads.ready.wait(), settings.db_startup_wait)
                except TimeoutError:
                    log.warning(
                        "read model not loaded after %.0fs; serving from the database", settings.db_startup_wait
                    )
                app.state.services = Services(
                    db=db,
                    bus=bus,
                    reads=side.reads,
                    sources=side.sources,
                    feed=side.feed,
                    tokens=side.tokens,
                    health=health,
                    token_uses=token_uses,
                    sightings=sightings,
                    client_ttl=settings.client_ttl,
                )
                background = Background(bus, side.reads.releases, sightings, settings.fleet_flush_seconds)
                background.start()  # rollouts' steps, the fleet's sightings
                announce_mode(settings, mode, side.tokens.has_admin())
                stop_sampling = metrics.sampler(partial(_sample, app.state.services))
                flushing = loop.create_task(_flush_every_second())
                yield
            finally:
                if background is not None:
                    await background.stop()
                if flushing is not None:
                    flushing.cancel()
                    stop_sampling()
                metrics.flush()
                side.close()
                await keys.stop()
                await token_uses.stop(db)
                await loop.run_in_executor(None, listener.stop)
                await loop.run_in_executor(None, replicas.close)
                await loop.run_in_executor(None, health.stop)
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
    # The last added runs first: request ids, the body limit and errors, then who is asking.
    limiter = FailureLimiter(settings.auth_failure_limit, block=settings.auth_failure_block)
    also = () if settings.metrics_public else (METRICS_PATH,)
    app.add_middleware(AuthMiddleware, mode=mode, tokens=active_tokens, limiter=limiter, uses=token_uses, also=also)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        cross_site=CrossSite.of(settings),
        access_log=settings.access_log,
    )
    document_security(app, mode)
    api = APIRouter(prefix=API_PREFIX)
    routers = (applications, configurations, versions, configuration_schemas, rollouts, changes, config, tokens)
    for router in routers:
        api.include_router(router.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(probes.router)
    app.include_router(metrics_router(settings.metrics_public))
    mount_console(app)
    mount_docs(app)
    # The framework's own route, the OpenAPI document, is open to anyone.
    for route in app.routes:
        if getattr(route, "path", None) == app.openapi_url:
            route.access = PUBLIC[0]
    _hot_routes_first(app)
    return app


def _sample(services: Services) -> None:
    """The gauges of what this worker holds and follows, set at each flush (infra/metrics.py)."""
    reads, check = services.reads, services.health
    views, size = reads.size
    metrics.VIEWS.set(views)
    metrics.VIEW_BYTES.set(size)
    for state in ("live", "stale", "loading"):
        metrics.STATE.labels(state).set(1 if reads.state == state else 0)
    metrics.HELD_WATCHES.set(reads.watchers.waiting)
    metrics.FEED_WAITS.set(services.feed.waiting)
    for lane, depth in services.db.queue_depths().items():
        metrics.QUEUE_DEPTH.labels(lane).set(depth)
    metrics.DATABASE_UP.set(1 if check.reachable else 0)
    if reads.revision is not None:
        metrics.APPLIED.set(reads.revision)
    if services.sources.replicas is not None:
        services.sources.replicas.sample()
    if check.answer is not None:  # the latest revision, as the background check last read it
        metrics.DATABASE_REVISION.set(check.answer)
        if reads.revision is not None:
            # Both as last seen: the check half a second old at most, the applied revision now.
            metrics.LAG.set(max(0, check.answer - reads.revision))


async def _flush_every_second() -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            metrics.flush()
        except Exception:  # a bug here must not end the metrics for good
            log.exception("flushing the metrics failed")


class _App(FastAPI):
    def build_middleware_stack(self):
        # Starlette wraps the app in ServerErrorMiddleware and ExceptionMiddleware; the request
        # context middleware already answers every error with the app's handlers, so they
        # would only cost every request (and every held watch) frames.
        app = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


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
