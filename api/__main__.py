"""`pipenv run serve`: the service under uvicorn, on an embedded PostgreSQL 16 when DATABASE_URL is unset.

WORKERS=1: one process serves. WORKERS=N: this process starts the embedded PostgreSQL (once),
binds the port and starts N worker processes serving on it, each with its own read model and
listener (api/serving.py, infra/workers.py); it serves nothing itself.

Order on the way out (SIGTERM or Ctrl-C): uvicorn lets in-flight requests finish (in every
worker), the lifespan closes the executors and the pool, then the embedded PostgreSQL stops;
exit status 0.
"""

import contextlib
import logging
import resource
import signal
import ssl
import sys

from api.serving import STARTUP_ERRORS, exit_zero, serve, serve_workers
from infra.keyring import embedded_key_file, ensure_key_file
from infra.logs import configure_logging
from infra.postgres import provide_database
from infra.settings import Settings, SettingsError, load_settings

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
    configure_logging(settings.log_level, settings.log_format)
    explicit = "max_held_requests" in settings.model_fields_set
    held = _held_within(_raise_open_file_limit(), settings.max_held_requests, explicit)  # workers inherit it
    sys.setswitchinterval(settings.switch_interval)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_zero)  # end up here, cleanly, whenever it comes
    try:
        if not settings.database_url and settings.secrets_keys is None:
            settings = settings.model_copy(update={"secrets_keys": _embedded_keys(settings)})
        with provide_database(settings) as dsn:
            settings = settings.model_copy(update={"database_url": dsn, "max_held_requests": held})
            if settings.workers > 1:
                return serve_workers(settings)
            serve(settings)
    except STARTUP_ERRORS as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def _embedded_keys(settings: Settings):
    """The embedded database's key file, beside its folder (made at the first start)."""
    path = embedded_key_file(settings.pg_data_dir)
    made = ensure_key_file(path)
    if made is not None:
        log.warning(
            "made %s (secret key %s): it opens the secret values of the embedded database; back it up, apart "
            "from .pgdata/ (a backup of one without the other is of no use, and both together are a leak)",
            path,
            made,
        )
    return path


def _check_tls_files(settings: Settings) -> None:
    """Load the certificate and key as uvicorn will, before the database starts: an unreadable
    file or a key that does not match is one line at start, not a traceback after it."""
    if settings.tls_cert_file is not None:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(settings.tls_cert_file, settings.tls_key_file)


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


def _held_within(open_files: int, wanted: int, explicit: bool = True) -> int:
    """MAX_HELD_REQUESTS (per process), lowered where the open-file limit could not hold them
    and everything else: past the limit a wait gets 503, never an exhausted file table. Said
    as a warning when the operator set the limit, else as a note."""
    if open_files == resource.RLIM_INFINITY or open_files - OTHER_OPEN_FILES >= wanted:
        return wanted
    held = max(1, open_files - OTHER_OPEN_FILES)
    say = log.warning if explicit else log.info
    say("MAX_HELD_REQUESTS=%d, but a process may open only %d files here: holding at most %d", wanted, open_files, held)
    return held


if __name__ == "__main__":
    sys.exit(main())
