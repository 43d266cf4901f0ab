"""`config-service`, the command line: read, change, compare, export and import configurations.

It talks to the service at CONFIG_SERVICE_URL (default http://127.0.0.1:8000) with the token
in CONFIG_SERVICE_TOKEN, if any.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx

from config_client._version import __version__
from config_client.errors import ConfigServiceError, NotFound
from config_client.sync import ConfigClient

DEFAULT_URL = "http://127.0.0.1:8000"


class CommandError(Exception):
    """A problem with what the command was given (a file, its contents)."""


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text; non-ASCII as it is when stdout takes UTF-8, escaped otherwise."""
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    return json.dumps(value, indent=indent, ensure_ascii=not utf8)


def _read_json(path: str) -> Any:
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


def _read_document(path: str) -> dict[str, Any]:
    document = _read_json(path)
    if not isinstance(document, dict):
        raise CommandError(f"{path} must hold a JSON object")
    return document


# -- the commands ----------------------------------------------------------------------


def cmd_get(client: ConfigClient, args: argparse.Namespace) -> int:
    if not args.watch:
        _print(dumps(client.get(args.app, args.name), indent=2))
        return 0
    # One line per version: the current one, then each change as it comes, until the reader
    # goes away (a closed pipe) or the watch stops, which it never should (it retries).
    _print(dumps(client.get(args.app, args.name)))
    reader_gone = threading.Event()

    def show(document: Any) -> None:
        try:
            _print(dumps(document))
        except BrokenPipeError:
            reader_gone.set()

    watch = client.watch(args.app, args.name, on_change=show)
    while watch.running and not reader_gone.is_set():
        reader_gone.wait(1.0)
    if reader_gone.is_set():
        raise BrokenPipeError
    reason = watch.error
    raise CommandError(
        f"watching {args.app}/{args.name} stopped: "
        + (f"{type(reason).__name__}: {reason}" if reason is not None else "for no known reason")
    )


def cmd_set(client: ConfigClient, args: argparse.Namespace) -> int:
    document = _read_document(args.file)
    label = f"{args.app}/{args.name}"
    try:
        view = client.update(args.app, args.name, document, expected_version=args.expected_version)
    except NotFound:
        if args.expected_version is not None:
            raise
        view = client.create(args.app, args.name, document)  # NotFound again when the application is missing
        _print(f"created {label} (version {view.version})")
        return 0
    _print(f"updated {label} to version {view.version}")
    return 0


def cmd_patch(client: ConfigClient, args: argparse.Namespace) -> int:
    patch = _read_document(args.file)
    view = client.patch(args.app, args.name, patch, expected_version=args.expected_version)
    _print(f"patched {args.app}/{args.name} to version {view.version}")
    return 0


def cmd_history(client: ConfigClient, args: argparse.Namespace) -> int:
    versions = client.history(args.app, args.name)
    if args.json:
        _print(dumps([dataclasses.asdict(version) for version in versions], indent=2))
        return 0
    _print(f"{'VERSION':>7}  {'CREATED':<27}  {'ACTOR':<12}  NAME")
    for v in versions:
        line = f"{v.version:>7}  {v.created_at:<27}  {v.actor or '-':<12}  {v.name}"
        _print(line + (f"  ({v.comments})" if v.comments else ""))
    return 0


def cmd_restore(client: ConfigClient, args: argparse.Namespace) -> int:
    view = client.restore(args.app, args.name, args.version, expected_version=args.expected_version)
    _print(f"restored {args.app}/{args.name} version {args.version} as version {view.version}")
    return 0


def cmd_delete(client: ConfigClient, args: argparse.Namespace) -> int:
    client.delete(args.app, args.name, expected_version=args.expected_version)
    _print(f"deleted {args.app}/{args.name}")
    return 0


def cmd_diff(client: ConfigClient, args: argparse.Namespace) -> int:
    def text(number: int) -> list[str]:
        v = client.version(args.app, args.name, number)
        shown = {"name": v.name, "comments": v.comments, "config": v.config}
        return dumps(shown, indent=2).splitlines(keepends=True)

    label = f"{args.app}/{args.name}"
    lines = list(
        difflib.unified_diff(
            text(args.v1), text(args.v2), f"{label} version {args.v1}", f"{label} version {args.v2}", n=3
        )
    )
    if not lines:
        _print(f"versions {args.v1} and {args.v2} of {label} are the same")
        return 0
    sys.stdout.write("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return 0


def export_document(client: ConfigClient, application: str) -> dict[str, Any]:
    """Everything an application is, without ids, versions or times: what `import` makes
    again. Configurations sorted by name, so exports of equal applications are equal."""
    snapshot = client.snapshot(application)  # one consistent read of all of them
    configurations = sorted(snapshot.configurations.values(), key=lambda view: view.name)
    return {
        "application": {"name": snapshot.application.name, "comments": snapshot.application.comments},
        "configurations": [
            {"name": view.name, "comments": view.comments, "config": view.config} for view in configurations
        ],
    }


def cmd_export(client: ConfigClient, args: argparse.Namespace) -> int:
    _print(dumps(export_document(client, args.app), indent=2))
    return 0


def _canonical(value: Any) -> str:
    # As JSON, not as Python values: to Python, true == 1 == 1.0.
    return json.dumps(value, sort_keys=True)


def _check_export(data: Any, path: str) -> None:
    def bad(why: str) -> CommandError:
        return CommandError(f"{path} is not an export ({why})")

    if not isinstance(data, dict) or not isinstance(data.get("application"), dict):
        raise bad('no "application" object')
    if not isinstance(data["application"].get("name"), str):
        raise bad('no "application.name"')
    if not isinstance(data.get("configurations"), list):
        raise bad('no "configurations" list')
    names = set()
    for position, item in enumerate(data["configurations"]):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise bad(f"configurations[{position}] has no name")
        if not isinstance(item.get("config"), dict):
            raise bad(f"configuration {item['name']!r} has no config object")
        if item["name"] in names:
            raise bad(f"configuration {item['name']!r} appears twice")
        names.add(item["name"])


def cmd_import(client: ConfigClient, args: argparse.Namespace) -> int:
    data = _read_json(args.file)
    _check_export(data, args.file)
    app = args.application or data["application"]["name"]
    comments = data["application"].get("comments")
    would = "would " if args.dry_run else ""
    write = not args.dry_run
    try:
        snapshot = client.snapshot(app)
    except NotFound:
        snapshot = None
    if snapshot is None:
        _print(f"{would}create application {app}")
        if write:
            client.create_application(app, comments)
        current = {}
    else:
        current = snapshot.configurations
        if snapshot.application.comments != comments:
            _print(f"{would}update application {app} (comments)")
            if write:
                client.update_application(app, comments=comments, expected_version=snapshot.application.version)

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for item in data["configurations"]:
        name, config, item_comments = item["name"], item["config"], item.get("comments")
        label = f"{app}/{name}"
        existing = current.get(name)
        if existing is None:
            counts["created"] += 1
            _print(f"{would}create {label}")
            if write:
                client.create(app, name, config, item_comments)
            continue
        changed = [
            field
            for field, ours, theirs in (
                ("config", existing.config, config),
                ("comments", existing.comments, item_comments),
            )
            if _canonical(ours) != _canonical(theirs)
        ]
        if not changed:
            counts["unchanged"] += 1
            _print(f"unchanged {label}")
            continue
        counts["updated"] += 1
        _print(f"{would}update {label} ({', '.join(changed)})")
        if write:
            # Conditional on the version compared, so a change made meanwhile is not overwritten.
            client.update(app, name, config, comments=item_comments, expected_version=existing.version)
    kept = sorted(set(current) - {item["name"] for item in data["configurations"]})
    for name in kept:
        _print(f"kept {app}/{name} (not in {args.file})")
    if args.dry_run:
        _print(
            f"{app}: {counts['created']} to create, {counts['updated']} to update, "
            f"{counts['unchanged']} unchanged (dry run: nothing was written)"
        )
    else:
        _print(f"{app}: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged")
    return 0


# -- the parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="config-service",
        description="Read and change the configurations of a Config Service.",
        epilog=f"Environment: CONFIG_SERVICE_URL (default {DEFAULT_URL}), CONFIG_SERVICE_TOKEN.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--url", default=os.environ.get("CONFIG_SERVICE_URL") or DEFAULT_URL, help="the service (CONFIG_SERVICE_URL)"
    )
    parser.add_argument(
        "--token", default=os.environ.get("CONFIG_SERVICE_TOKEN") or None, help="bearer token (CONFIG_SERVICE_TOKEN)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the service (default 10)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[ConfigClient, argparse.Namespace], int], summary: str):
        sub = commands.add_parser(name, help=summary, description=summary)
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

    sub = command("get", cmd_get, "Print a configuration's document as JSON.")
    app_and_name(sub)
    sub.add_argument("--watch", action="store_true", help="keep running, printing one line of JSON per change")

    sub = command("set", cmd_set, "Replace a configuration's document with a file's (creating it if need be).")
    app_and_name(sub)
    sub.add_argument("--file", required=True, metavar="FILE.json", help="the new document, a JSON object (- : stdin)")
    expected_version(sub)

    sub = command("patch", cmd_patch, "Merge a JSON merge patch (RFC 7396) into a configuration's document.")
    app_and_name(sub)
    sub.add_argument(
        "--file", required=True, metavar="PATCH.json", help="the patch: keys to set, null to remove one (- : stdin)"
    )
    expected_version(sub)

    sub = command("history", cmd_history, "List every version of a configuration, newest first.")
    app_and_name(sub)
    sub.add_argument("--json", action="store_true", help="print the versions as JSON, documents included")

    sub = command("restore", cmd_restore, "Make an earlier version of a configuration current again.")
    app_and_name(sub)
    sub.add_argument("version", metavar="VERSION", type=int, help="the version to restore")
    expected_version(sub)

    sub = command("delete", cmd_delete, "Delete a configuration (its history stays; restore brings it back).")
    app_and_name(sub)
    expected_version(sub)

    sub = command("diff", cmd_diff, "Show how two versions of a configuration differ (a unified diff).")
    app_and_name(sub)
    sub.add_argument("v1", metavar="V1", type=int, help="the older version")
    sub.add_argument("v2", metavar="V2", type=int, help="the newer version")

    sub = command("export", cmd_export, "Print every configuration of an application as one JSON document.")
    sub.add_argument("app", metavar="APP", help="the application's name")

    sub = command(
        "import", cmd_import, "Create or update an application's configurations from an export; report what changed."
    )
    sub.add_argument("file", metavar="FILE.json", help="a file written by export (- : stdin)")
    sub.add_argument("--dry-run", action="store_true", help="only report what would change")
    sub.add_argument("--application", metavar="APP", help="import into this application instead of the file's")
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


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; its exit status: 0 on success, 1 on failure (one line on
    stderr), 2 on a usage error, 130 when interrupted, 141 when stdout is closed early (a
    pipe whose reader quit)."""
    args = build_parser().parse_args(argv)
    _configure_logging()
    try:
        with ConfigClient(args.url, token=args.token, timeout=args.timeout) as client:
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
