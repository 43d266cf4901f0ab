"""How the service is served: uvicorn with the app's lifespan, as one process or as workers
sharing one port (infra/workers.py). `python -m api` (api/__main__.py) calls these; a worker
process imports this module (a package's __main__ cannot be imported by a spawned process).
"""

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg2
import uvicorn

from api.app import create_app
from infra.database import DatabaseUnavailable, UnsupportedServer
from infra.keyring import KeyFileError
from infra.logs import configure_logging
from infra.peers import Peers, create_slots
from infra.postgres import PostgresError
from infra.settings import Settings
from infra.workers import Supervisor
from migrations import MigrationError

log = logging.getLogger("serve")

# What stops a start with one line (`cannot start: ...`) rather than a traceback.
STARTUP_ERRORS = (
    PostgresError,
    DatabaseUnavailable,
    UnsupportedServer,
    MigrationError,
    KeyFileError,
    psycopg2.OperationalError,
)


def uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    """How production serves an app (the benchmark's ceiling app is served the same way)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",  # run by serve(), so that start-up errors reach main() as exceptions
        access_log=False,  # ACCESS_LOG: the app's own lines, with route, duration and request id
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace,
        server_header=False,
        ssl_certfile=settings.tls_cert_file,  # both or neither (infra/settings.py)
        ssl_keyfile=settings.tls_key_file,
    )


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


def serve(
    settings: Settings,
    sock: socket.socket | None = None,
    peers: Peers | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """The app under uvicorn until a signal stops it: on its own port, or on `sock`."""
    app = create_app(settings, peers)
    config = uvicorn_config(app, settings)
    server = _Server(config, app)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            if ready is not None:
                ready()
            await server.serve(sockets=None if sock is None else [sock])

    asyncio.run(run(), loop_factory=config.get_loop_factory())


def serve_workers(settings: Settings) -> int:
    """The parent of WORKERS processes: the socket, a folder for what the workers share (the
    metrics' files, the revisions each committed), the workers; the folder is removed after
    the last worker ends. Its exit status: 0 when a signal stopped it."""
    sock = uvicorn_config(None, settings).bind_socket()
    shared = Path(tempfile.mkdtemp(prefix="config-service-workers-"))
    try:
        (shared / "metrics").mkdir()
        # Read by prometheus-client when a worker imports it (infra/metrics.py).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared / "metrics")
        create_slots(shared / "revisions", settings.workers)
        log.info("%d workers on %s:%d", settings.workers, settings.host, settings.port)
        supervisor = Supervisor(
            settings.workers, sock, serve_worker, (settings, str(shared)), stop_within=settings.shutdown_grace + 10
        )
        return supervisor.run()
    finally:
        sock.close()
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(shared, ignore_errors=True)


def serve_worker(index: int, sock: socket.socket, ready: Callable[[], None], settings: Settings, shared: str) -> None:
    """A worker process (infra/workers.py): the app on the parent's socket, its own read model
    and listener; `ready()` once it serves. Exits 1 when it cannot start."""
    configure_logging(settings.log_level, settings.log_format, worker=index)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_zero)
    sys.setswitchinterval(settings.switch_interval)
    peers = Peers(Path(shared) / "revisions", settings.workers, index)
    try:
        serve(settings, sock, peers, ready)
    except STARTUP_ERRORS as exc:
        log.error("cannot start: %s", exc)
        sys.exit(1)


def exit_zero(signum: int, frame: object) -> None:
    """uvicorn handles SIGTERM and SIGINT while serving and raises them again when done."""
    raise SystemExit(0)
