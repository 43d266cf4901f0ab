"""`pipenv run serve`: the service under uvicorn, on an embedded PostgreSQL 16 when DATABASE_URL is unset.

Order on the way out (SIGTERM or Ctrl-C): uvicorn lets in-flight requests finish, the
lifespan closes the executors and the pool, then the embedded PostgreSQL stops; exit status 0.
"""

import asyncio
import contextlib
import logging
import resource
import signal
import ssl
import sys

import psycopg2
import uvicorn

from api.app import create_app
from infra.database import DatabaseUnavailable, UnsupportedServer
from infra.logs import configure_logging
from infra.postgres import PostgresError, provide_database
from infra.settings import Settings, SettingsError, load_settings
from migrations import MigrationError

log = logging.getLogger("serve")


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"config-service: {exc}", file=sys.stderr)
        return 2
    try:
        _check_tls_files(settings)
    except OSError as exc:  # ssl.SSLError is one
        print(f"config-service: cannot serve HTTPS with TLS_CERT_FILE and TLS_KEY_FILE: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    held = _held_within(_raise_open_file_limit(), settings.max_held_requests)
    sys.setswitchinterval(settings.switch_interval)
    # uvicorn handles these while serving and re-raises them when done: end up here, cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_zero)
    try:
        with provide_database(settings) as dsn:
            _serve(settings.model_copy(update={"database_url": dsn, "max_held_requests": held}))
    except (PostgresError, DatabaseUnavailable, UnsupportedServer, MigrationError, psycopg2.OperationalError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    """How production serves an app (the benchmark's ceiling app is served the same way)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",  # run by _serve, so that start-up errors reach main() as exceptions
        access_log=settings.access_log,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace,
        server_header=False,
        ssl_certfile=settings.tls_cert_file,  # both or neither (infra/settings.py)
        ssl_keyfile=settings.tls_key_file,
    )


def _check_tls_files(settings: Settings) -> None:
    """Load the certificate and key as uvicorn will, before the database starts: an unreadable
    file or a key that does not match is one line at start, not a traceback after it."""
    if settings.tls_cert_file is not None:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(settings.tls_cert_file, settings.tls_key_file)


class _Server(uvicorn.Server):
    """uvicorn, ending the requests held for a watch or a feed wait as soon as shutdown
    begins (as if their time had passed), instead of waiting for them."""

    def __init__(self, config: uvicorn.Config, app) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets=None) -> None:
        services = getattr(self._app.state, "services", None)
        if services is not None:
            services.end_waits()
        await super().shutdown(sockets)


def _serve(settings: Settings) -> None:
    app = create_app(settings)
    config = uvicorn_config(app, settings)
    server = _Server(config, app)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            await server.serve()

    asyncio.run(run(), loop_factory=config.get_loop_factory())


def _raise_open_file_limit() -> int:
    """Every held request (a watch, a feed wait) is an open socket: allow as many as the
    system lets this process have; how many that is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    allowed = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log.info("open files: up to %s", allowed)
    return allowed


# Open files kept for everything but held requests: other requests, the database, logs.
OTHER_OPEN_FILES = 1024


def _held_within(open_files: int, max_held: int) -> int:
    """MAX_HELD_REQUESTS, lowered (and said so) where the open-file limit could not hold them
    and everything else: past the limit a wait gets 503, never an exhausted file table."""
    if open_files == resource.RLIM_INFINITY or open_files - OTHER_OPEN_FILES >= max_held:
        return max_held
    held = max(1, open_files - OTHER_OPEN_FILES)
    log.warning(
        "MAX_HELD_REQUESTS=%d, but this process may open only %d files: holding at most %d requests",
        max_held,
        open_files,
        held,
    )
    return held


def _exit_zero(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
