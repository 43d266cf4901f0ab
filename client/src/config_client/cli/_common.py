"""What the commands share: their errors, their output, the files they read, and `Commands`,
where each module of commands adds its own."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from config_client.sync import ConfigClient

Handler = Callable[[ConfigClient, argparse.Namespace], int]


class CommandError(Exception):
    """A problem with what the command was given (a file, its contents)."""


class TokenRefused(Exception):
    """`--token` was given: a usage error (exit status 2)."""


class _RefuseToken(argparse.Action):
    # Refused rather than unknown, so the user learns why and what to use instead.
    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        raise TokenRefused(
            "--token is refused: a token on the command line can be seen by every user of the machine "
            "(ps) and stays in the shell's history; set CONFIG_SERVICE_TOKEN or use --token-file PATH"
        )


def refuse_token(parser: argparse.ArgumentParser) -> None:
    """Makes `--token` (wherever it stands) a usage error that says why and what to use instead."""
    parser.add_argument("--token", action=_RefuseToken)


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text; non-ASCII as it is when stdout takes UTF-8, escaped otherwise."""
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    return json.dumps(value, indent=indent, ensure_ascii=not utf8)


def read_json(path: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as file:
                text = file.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path} is not valid JSON: {exc}") from None


def read_document(path: str) -> dict[str, Any]:
    document = read_json(path)
    if not isinstance(document, dict):
        raise CommandError(f"{path} must hold a JSON object")
    return document


class Commands:
    """The subcommands of `config-service`: a module of commands has a `register(commands)`
    that calls `add` for each of its own and adds their arguments to the parser it returns.
    A command with subcommands of its own (`schema push`, say) gets its own `Commands` over
    `add(...).add_subparsers(...)`."""

    def __init__(self, subparsers: argparse._SubParsersAction) -> None:
        self._subparsers = subparsers

    def add(self, name: str, handler: Handler | None, summary: str) -> argparse.ArgumentParser:
        sub = self._subparsers.add_parser(name, help=summary, description=summary)
        refuse_token(sub)
        if handler is not None:
            sub.set_defaults(handler=handler)
        return sub


def app_and_name(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("app", metavar="APP", help="the application's name")
    sub.add_argument("name", metavar="NAME", help="the configuration's name")


def expected_version(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--expected-version",
        type=int,
        metavar="N",
        help="change it only if it is still at version N (else fail, changing nothing)",
    )
