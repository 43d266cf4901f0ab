"""`config-service`, the command line: read, change, compare, export and import configurations;
guard them with a JSON Schema (from the application's settings class); stage their releases and
roll versions out; see which client holds which version.

It talks to the service at CONFIG_SERVICE_URL (default http://127.0.0.1:8000) with the token
in the file named by --token-file, or else in CONFIG_SERVICE_TOKEN, if any; never one given as
an argument (visible in `ps`, kept in shell history). It reads as the client --client-id, or
else CONFIG_CLIENT_ID, or else HOSTNAME/config-service. This module is the shell (the global
options, logging, one line per failure); the commands are in the modules of `COMMANDS`, each
adding its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import httpx

from config_client._version import __version__
from config_client.cli import configurations, fleet, rollouts, schemas, transfer
from config_client.cli._common import CommandError, Commands, TokenRefused, refuse_token
from config_client.errors import ConfigServiceError
from config_client.sync import ConfigClient

DEFAULT_URL = "http://127.0.0.1:8000"
COMMANDS = (configurations, transfer, schemas, rollouts, fleet)  # in the order `--help` lists them


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="config-service",
        description="Read and change the configurations of a Config Service.",
        epilog=f"Environment: CONFIG_SERVICE_URL (default {DEFAULT_URL}), CONFIG_SERVICE_TOKEN, CONFIG_CLIENT_ID. "
        "A token is never taken as an argument: command lines are visible in ps and kept in shell history.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--url", default=os.environ.get("CONFIG_SERVICE_URL") or DEFAULT_URL, help="the service (CONFIG_SERVICE_URL)"
    )
    parser.add_argument(
        "--token-file", metavar="PATH", help="a file holding the bearer token (else CONFIG_SERVICE_TOKEN is used)"
    )
    refuse_token(parser)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the service (default 10)")
    parser.add_argument(
        "--client-id",
        metavar="ID",
        help="who this client is to the service (X-Client-Id, 1 to 128 visible ASCII characters): a staged "
        "configuration's rollout decides by it which version `get` gets (else CONFIG_CLIENT_ID, else "
        "HOSTNAME/config-service)",
    )
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for module in COMMANDS:
        module.register(commands)
    return parser


class _OneLine(logging.Formatter):
    """Log records as one line each, without tracebacks: a command line's stderr is for people."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        return " ".join(super().format(record).split())


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("config-service: %(message)s"))
    # A watch that stops is reported by `get --watch` itself, as its one line.
    handler.addFilter(lambda record: not getattr(record, "config_watch_ended", False))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _stdout_closed() -> int:
    # The reader went away (`config-service export APP | head`): nothing more to say to it, and
    # no second error when Python flushes stdout at exit (as the Python documentation advises).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (stdout replaced, as in tests)
        pass
    return 141  # as a command killed by SIGPIPE


def read_token_file(path: str) -> str:
    """The token a file holds: its text without surrounding whitespace (a final newline)."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except OSError as exc:
        raise CommandError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CommandError(f"the token file {path} is not text") from None
    if not token or any(character.isspace() for character in token):
        raise CommandError(f"the token file {path} must hold one token and nothing else")
    return token


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; its exit status: 0 on success, 1 on failure (one line on
    stderr), 2 on a usage error, 130 when interrupted, 141 when stdout is closed early (a
    pipe whose reader quit)."""
    try:
        args = build_parser().parse_args(argv)
    except TokenRefused as exc:
        sys.stderr.write(f"config-service: {exc}\n")
        return 2
    _configure_logging()
    try:
        if args.token_file is not None:
            token = read_token_file(args.token_file)
        else:
            token = os.environ.get("CONFIG_SERVICE_TOKEN") or None
        with ConfigClient(args.url, token=token, timeout=args.timeout, client_id=args.client_id) as client:
            status = args.handler(client, args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        return _stdout_closed()
    except json.JSONDecodeError as exc:  # the files read are checked where they are read
        message = f"the answer from {args.url} is not JSON ({exc}): is that the config service?"
    except (ConfigServiceError, CommandError, ValueError) as exc:
        message = str(exc)
    except httpx.InvalidURL as exc:
        message = f"invalid service URL {args.url!r}: {exc}"
    except httpx.HTTPError as exc:
        message = f"the service at {args.url} gave no usable answer ({type(exc).__name__}: {exc})"
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = f"unexpected error: {type(exc).__name__}: {exc}"
    sys.stderr.write(f"config-service: {_one_line(message)}\n")
    return 1
