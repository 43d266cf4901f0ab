"""Staged releases from the shell: `release` sets a configuration's policy, `rollout
start|status|pause|resume|rollback|promote` moves a version out to a growing share of clients."""

from __future__ import annotations

import argparse
import dataclasses

from config_client.cli._common import Commands, app_and_name, dumps, expected_version, out
from config_client.errors import NotFound
from config_client.models import Configuration, Fleet, Rollout
from config_client.sync import ConfigClient

BAR = 20  # characters of the share bar


def share_bar(percent: int) -> str:
    """`[#####---------------]  25%`: a rollout's share at a glance."""
    filled = round(BAR * max(0, min(percent, 100)) / 100)
    return f"[{'#' * filled}{'-' * (BAR - filled)}] {percent:>3}%"


def steps_argument(text: str) -> list[int]:
    """`10,50,100` as [10, 50, 100]; the service checks they grow and end at 100."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"steps are percentages separated by commas (10,50,100), not {text!r}"
        ) from None
    if not steps:
        raise argparse.ArgumentTypeError("give at least one step (100: everyone at once)")
    return steps


def describe(rollout: Rollout) -> list[str]:
    """A rollout in a few lines: its versions, state and share; its steps; why it ended."""
    state = rollout.state.replace("_", " ")
    lines = [
        f"rollout {rollout.id}: version {rollout.from_version} -> {rollout.to_version}, {state}",
        f"  share     {share_bar(0)} (rolled back at {rollout.percent}%)"
        if rollout.state == "rolled_back"
        else f"  share     {share_bar(rollout.percent)}",
        f"  steps     {','.join(map(str, rollout.steps))}% every {rollout.step_seconds} s"
        + (f"; next at {rollout.next_step_at}" if rollout.next_step_at else ""),
        f"  failures  {rollout.failures} (more than {rollout.max_failures} roll it back)",
        f"  started   {rollout.started_at}" + (f", ended {rollout.ended_at}" if rollout.ended_at else ""),
    ]
    if rollout.reason:
        lines.append(f"  reason    {rollout.reason}")
    return lines


def counts(fleet: Fleet) -> str:
    if not fleet.versions:
        return "no client seen lately"
    total = sum(fleet.versions.values())
    each = ", ".join(f"version {version}: {n}" for version, n in sorted(fleet.versions.items()))
    return f"{total} client{'s' if total != 1 else ''} seen lately ({each})"


def release_line(view: Configuration) -> str:
    live = f", live version {view.live_version}" if view.live_version is not None else ""
    return f"release {view.release}{live}, latest version {view.version}"


def cmd_release(client: ConfigClient, args: argparse.Namespace) -> int:
    view = client.set_release(args.app, args.name, args.release, expected_version=args.expected_version)
    out(f"{args.app}/{args.name}: {release_line(view)}")
    return 0


def cmd_start(client: ConfigClient, args: argparse.Namespace) -> int:
    rollout = client.start_rollout(
        args.app,
        args.name,
        args.to_version,
        steps=args.steps,
        step_seconds=args.step_seconds,
        max_failures=args.max_failures,
    )
    versions = f"version {rollout.from_version} -> {rollout.to_version}"
    out(f"started rollout {rollout.id} of {args.app}/{args.name}: {versions}")
    for line in describe(rollout)[1:]:
        out(line)
    return 0


def cmd_status(client: ConfigClient, args: argparse.Namespace) -> int:
    view = client.configuration(args.app, args.name)
    try:
        rollout: Rollout | None = client.rollout(args.app, args.name)
    except NotFound:
        rollout = None
    fleet = client.fleet(args.app, args.name)
    if args.json:
        shown = {
            "release": view.release,
            "live_version": view.live_version,
            "version": view.version,
            "rollout": None if rollout is None else dataclasses.asdict(rollout),
            "versions": {str(version): n for version, n in sorted(fleet.versions.items())},
        }
        out(dumps(shown, indent=2))
        return 0
    out(f"{args.app}/{args.name}: {release_line(view)}")
    if rollout is None:
        out("no rollout yet" + ("" if view.release == "staged" else " (and none can start: the release is immediate)"))
    else:
        for line in describe(rollout):
            out(line)
    out(counts(fleet))
    return 0


def _action(verb: str, done: str):
    def act(client: ConfigClient, args: argparse.Namespace) -> int:
        rollout = getattr(client, f"{verb}_rollout")(args.app, args.name, args.rollout_id)
        what = f"{done} rollout {rollout.id} of {args.app}/{args.name}"
        if rollout.state == "rolled_back":
            out(f"{what}: every client back on version {rollout.from_version}")
        elif rollout.state == "completed":
            out(f"{what}: version {rollout.to_version} is live for every client")
        else:
            out(f"{what}: {rollout.state} at {rollout.percent}% (version {rollout.to_version})")
        return 0

    return act


def register(commands: Commands) -> None:
    sub = commands.add("release", cmd_release, "Set how a configuration's changes reach clients: staged or immediate.")
    app_and_name(sub)
    sub.add_argument(
        "release",
        choices=("staged", "immediate"),
        help="staged: a change reaches clients only through a rollout; immediate: every change is live at once",
    )
    expected_version(sub)

    group = commands.add("rollout", None, "Roll a version of a staged configuration out to a growing share of clients.")
    rollout = Commands(group.add_subparsers(dest="rollout_command", required=True, metavar="ACTION"))

    sub = rollout.add("start", cmd_start, "Start a rollout: its first step at once, then one every --step-seconds.")
    app_and_name(sub)
    sub.add_argument(
        "--version", dest="to_version", type=int, required=True, metavar="N", help="the version to roll out"
    )
    sub.add_argument(
        "--steps",
        type=steps_argument,
        default=[10, 50, 100],
        metavar="P,P,...",
        help="shares of clients in percent, growing, ending at 100 (default 10,50,100)",
    )
    sub.add_argument("--step-seconds", type=int, default=60, metavar="S", help="seconds between steps (default 60)")
    sub.add_argument(
        "--max-failures",
        type=int,
        default=0,
        metavar="N",
        help="failure reports tolerated; one more rolls it back (default 0)",
    )

    sub = rollout.add(
        "status", cmd_status, "Show the latest rollout, its share, and how many clients hold each version."
    )
    app_and_name(sub)
    sub.add_argument("--json", action="store_true", help="print it as JSON")

    for verb, summary in (
        ("pause", "Hold the rollout at its share."),
        ("resume", "Resume a paused rollout (its next step comes --step-seconds later)."),
        ("rollback", "Roll back: every client back to the version live before the rollout, at once."),
        ("promote", "Promote: straight to 100%%, the version becomes live for everyone."),
    ):
        done = {"pause": "paused", "resume": "resumed", "rollback": "rolled back", "promote": "promoted"}[verb]
        sub = rollout.add(verb, _action(verb, done), summary)
        app_and_name(sub)
        sub.add_argument("--rollout", dest="rollout_id", metavar="ID", help="a rollout's id (default: the latest)")
