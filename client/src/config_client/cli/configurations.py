"""The commands on one configuration: get (and watch), set, patch, history, restore, delete, diff."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import threading
from typing import Any

from config_client.cli._common import (
    CommandError,
    Commands,
    app_and_name,
    dumps,
    expected_version,
    out,
    read_document,
)
from config_client.errors import NotFound
from config_client.sync import ConfigClient


def cmd_get(client: ConfigClient, args: argparse.Namespace) -> int:
    if not args.watch:
        out(dumps(client.get(args.app, args.name), indent=2))
        return 0
    # One line per version: the current one, then each change as it comes, until the reader
    # goes away (a closed pipe) or the watch stops, which it never should (it retries).
    out(dumps(client.get(args.app, args.name)))
    reader_gone = threading.Event()

    def show(document: Any) -> None:
        try:
            out(dumps(document))
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
    document = read_document(args.file)
    label = f"{args.app}/{args.name}"
    try:
        view = client.update(args.app, args.name, document, expected_version=args.expected_version)
    except NotFound:
        if args.expected_version is not None:
            raise
        view = client.create(args.app, args.name, document)  # NotFound again when the application is missing
        out(f"created {label} (version {view.version})")
        return 0
    out(f"updated {label} to version {view.version}")
    return 0


def cmd_patch(client: ConfigClient, args: argparse.Namespace) -> int:
    patch = read_document(args.file)
    view = client.patch(args.app, args.name, patch, expected_version=args.expected_version)
    out(f"patched {args.app}/{args.name} to version {view.version}")
    return 0


def cmd_history(client: ConfigClient, args: argparse.Namespace) -> int:
    versions = client.history(args.app, args.name)
    if args.json:
        out(dumps([dataclasses.asdict(version) for version in versions], indent=2))
        return 0
    out(f"{'VERSION':>7}  {'CREATED':<27}  {'ACTOR':<12}  NAME")
    for v in versions:
        line = f"{v.version:>7}  {v.created_at:<27}  {v.actor or '-':<12}  {v.name}"
        out(line + (f"  ({v.comments})" if v.comments else ""))
    return 0


def cmd_restore(client: ConfigClient, args: argparse.Namespace) -> int:
    view = client.restore(args.app, args.name, args.version, expected_version=args.expected_version)
    out(f"restored {args.app}/{args.name} version {args.version} as version {view.version}")
    return 0


def cmd_delete(client: ConfigClient, args: argparse.Namespace) -> int:
    client.delete(args.app, args.name, expected_version=args.expected_version)
    out(f"deleted {args.app}/{args.name}")
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
        out(f"versions {args.v1} and {args.v2} of {label} are the same")
        return 0
    sys.stdout.write("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return 0


def register(commands: Commands) -> None:
    sub = commands.add("get", cmd_get, "Print a configuration's document as JSON.")
    app_and_name(sub)
    sub.add_argument("--watch", action="store_true", help="keep running, printing one line of JSON per change")

    sub = commands.add("set", cmd_set, "Replace a configuration's document with a file's (creating it if need be).")
    app_and_name(sub)
    sub.add_argument("--file", required=True, metavar="FILE.json", help="the new document, a JSON object (- : stdin)")
    expected_version(sub)

    sub = commands.add("patch", cmd_patch, "Merge a JSON merge patch (RFC 7396) into a configuration's document.")
    app_and_name(sub)
    sub.add_argument(
        "--file", required=True, metavar="PATCH.json", help="the patch: keys to set, null to remove one (- : stdin)"
    )
    expected_version(sub)

    sub = commands.add("history", cmd_history, "List every version of a configuration, newest first.")
    app_and_name(sub)
    sub.add_argument("--json", action="store_true", help="print the versions as JSON, documents included")

    sub = commands.add("restore", cmd_restore, "Make an earlier version of a configuration current again.")
    app_and_name(sub)
    sub.add_argument("version", metavar="VERSION", type=int, help="the version to restore")
    expected_version(sub)

    sub = commands.add("delete", cmd_delete, "Delete a configuration (its history stays; restore brings it back).")
    app_and_name(sub)
    expected_version(sub)

    sub = commands.add("diff", cmd_diff, "Show how two versions of a configuration differ (a unified diff).")
    app_and_name(sub)
    sub.add_argument("v1", metavar="V1", type=int, help="the older version")
    sub.add_argument("v2", metavar="V2", type=int, help="the newer version")
