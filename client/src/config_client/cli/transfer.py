"""Export an application's configurations as one JSON document, and import one back."""

from __future__ import annotations

import argparse
import json
from typing import Any

from config_client.cli._common import CommandError, Commands, dumps, out, read_json
from config_client.errors import NotFound
from config_client.sync import ConfigClient


def export_document(client: ConfigClient, application: str) -> dict[str, Any]:
    """Everything an application is, without ids, versions or times: what `import` makes
    again. Configurations sorted by name, so exports of equal applications are equal. Secret
    values are as the token sees them ("********" unless it may see them), with their
    pointers (`secrets`), so an import marks them again and keeps the values it cannot see."""
    snapshot = client.snapshot(application)  # one consistent read of all of them
    configurations = sorted(snapshot.configurations.values(), key=lambda view: view.name)
    return {
        "application": {"name": snapshot.application.name, "comments": snapshot.application.comments},
        "configurations": [_exported(view) for view in configurations],
    }


def _exported(view) -> dict[str, Any]:
    item = {"name": view.name, "comments": view.comments, "config": view.config}
    if view.secrets:
        item["secrets"] = list(view.secrets)
    return item


def cmd_export(client: ConfigClient, args: argparse.Namespace) -> int:
    out(dumps(export_document(client, args.app), indent=2))
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
        secrets = item.get("secrets")
        if secrets is not None and not (isinstance(secrets, list) and all(isinstance(p, str) for p in secrets)):
            raise bad(f"configuration {item['name']!r} has secrets that are not a list of JSON Pointers")
        if item["name"] in names:
            raise bad(f"configuration {item['name']!r} appears twice")
        names.add(item["name"])


def cmd_import(client: ConfigClient, args: argparse.Namespace) -> int:
    data = read_json(args.file)
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
        out(f"{would}create application {app}")
        if write:
            client.create_application(app, comments)
        current = {}
    else:
        current = snapshot.configurations
        if snapshot.application.comments != comments:
            out(f"{would}update application {app} (comments)")
            if write:
                client.update_application(app, comments=comments, expected_version=snapshot.application.version)

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for item in data["configurations"]:
        name, config, item_comments = item["name"], item["config"], item.get("comments")
        secrets = item.get("secrets")  # absent (an export without secrets): the pointers are kept
        label = f"{app}/{name}"
        existing = current.get(name)
        if existing is None:
            counts["created"] += 1
            out(f"{would}create {label}")
            if write:
                client.create(app, name, config, item_comments, secrets=secrets)
            continue
        changed = [
            field
            for field, ours, theirs in (
                ("config", existing.config, config),
                ("comments", existing.comments, item_comments),
                ("secrets", existing.secrets, existing.secrets if secrets is None else secrets),
            )
            if _canonical(ours) != _canonical(theirs)
        ]
        if not changed:
            counts["unchanged"] += 1
            out(f"unchanged {label}")
            continue
        counts["updated"] += 1
        out(f"{would}update {label} ({', '.join(changed)})")
        if write:
            # Conditional on the version compared, so a change made meanwhile is not overwritten.
            client.update(app, name, config, comments=item_comments, expected_version=existing.version, secrets=secrets)
    kept = sorted(set(current) - {item["name"] for item in data["configurations"]})
    for name in kept:
        out(f"kept {app}/{name} (not in {args.file})")
    if args.dry_run:
        out(
            f"{app}: {counts['created']} to create, {counts['updated']} to update, "
            f"{counts['unchanged']} unchanged (dry run: nothing was written)"
        )
    else:
        out(f"{app}: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged")
    return 0


def register(commands: Commands) -> None:
    sub = commands.add("export", cmd_export, "Print every configuration of an application as one JSON document.")
    sub.add_argument("app", metavar="APP", help="the application's name")

    sub = commands.add(
        "import", cmd_import, "Create or update an application's configurations from an export; report what changed."
    )
    sub.add_argument("file", metavar="FILE.json", help="a file written by export (- : stdin)")
    sub.add_argument("--dry-run", action="store_true", help="only report what would change")
    sub.add_argument("--application", metavar="APP", help="import into this application instead of the file's")
