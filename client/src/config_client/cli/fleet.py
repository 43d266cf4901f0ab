"""`clients`: which client holds which version of a configuration (the fleet view)."""

from __future__ import annotations

import argparse
import dataclasses

from config_client.cli._common import Commands, app_and_name, dumps, out
from config_client.cli.rollouts import counts
from config_client.models import ClientReport
from config_client.sync import ConfigClient

MESSAGE = 60  # characters of a failure's message shown in the table


def report_cell(report: ClientReport | None) -> str:
    if report is None:
        return "-"
    if report.ok:
        return f"ok (version {report.version})"
    message = " ".join((report.message or "no message").split())
    if len(message) > MESSAGE:
        message = message[: MESSAGE - 1] + "…"
    return f"FAILED version {report.version}: {message}"


def cmd_clients(client: ConfigClient, args: argparse.Namespace) -> int:
    fleet = client.fleet(args.app, args.name)
    if args.json:
        shown = {
            "clients": [dataclasses.asdict(c) for c in fleet.clients],
            "versions": {str(version): n for version, n in sorted(fleet.versions.items())},
        }
        out(dumps(shown, indent=2))
        return 0
    rows = [
        (c.client_id, str(c.version), c.last_seen, c.via_instance, report_cell(c.last_report)) for c in fleet.clients
    ]
    headings = ("CLIENT", "VERSION", "LAST SEEN", "VIA", "LAST REPORT")
    widths = [max([len(headings[i]), *(len(row[i]) for row in rows)]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        client_id, version, seen, via, report = cells
        return f"{client_id:<{widths[0]}}  {version:>{widths[1]}}  {seen:<{widths[2]}}  {via:<{widths[3]}}  {report}"

    out(line(headings))
    for row in rows:
        out(line(row))
    out(counts(fleet))
    return 0


def register(commands: Commands) -> None:
    sub = commands.add(
        "clients", cmd_clients, "List the clients seen reading a configuration lately, with the version each holds."
    )
    app_and_name(sub)
    sub.add_argument("--json", action="store_true", help="print them as JSON")
