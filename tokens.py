"""API tokens from the command line, against DATABASE_URL or the embedded database (joining
the one `serve` runs, if it runs):

    pipenv run token create --name NAME --scope read|write|admin [--application NAME]... [--expires-in-days N]
                            [--reveal]
    pipenv run token list
    pipenv run token revoke NAME

`create` prints the secret, once; nothing else ever shows it.
"""

import argparse
import sys
from datetime import UTC, datetime

import psycopg2
from psycopg2.extras import RealDictCursor

import migrations
from commands.bus import run_on
from commands.errors import Conflict, InvalidCommand, NotFound
from commands.tokens import MAX_EXPIRES_IN_DAYS, CreateToken, RevokeToken
from infra.access import SCOPES
from infra.database import connect_kwargs
from infra.postgres import PostgresError, provide_database
from infra.settings import SettingsError, load_settings
from queries.tokens import list_tokens


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="token", description="Create, list and revoke API tokens.")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a token and print its secret, once")
    create.add_argument("--name", required=True, help="unique among active tokens; shows as the actor of changes")
    create.add_argument("--scope", required=True, choices=SCOPES)
    create.add_argument(
        "--application", action="append", dest="applications", metavar="NAME", help="limit it to this application"
    )
    create.add_argument(
        "--expires-in-days",
        type=int,
        metavar="N",
        help=f"refuse it after N days (1 to {MAX_EXPIRES_IN_DAYS}); without it, it never expires",
    )
    create.add_argument(
        "--reveal",
        action="store_true",
        help='let it see secret values (without it, they show as "********", but on /config to a token '
        "limited to the application)",
    )
    actions.add_parser(
        "list", help="list the active tokens (never their secrets), with when each expires and was last used"
    )
    revoke = actions.add_parser("revoke", help="revoke the active token of this name, on every instance")
    revoke.add_argument("name")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        with provide_database(settings, join_running=True) as dsn:
            migrations.migrate(dsn)
            conn = psycopg2.connect(dsn, cursor_factory=RealDictCursor, **connect_kwargs(settings.db_connect_timeout))
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    return _run(args, cur)
            finally:
                conn.close()
    except (SettingsError, PostgresError, migrations.MigrationError, psycopg2.OperationalError) as exc:
        print(f"token: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, cur) -> int:
    if args.action == "list":
        for token in list_tokens(cur):
            limited = ", ".join(token.applications) if token.applications is not None else "every application"
            expires = "never expires" if token.expires_at is None else f"expires {_when(token.expires_at)}"
            used = "never used" if token.last_used_at is None else f"last used {_when(token.last_used_at)}"
            scope = token.scope + (" +reveal" if token.reveal else "")
            print(f"{token.name}\t{scope}\t{limited}\tcreated {_when(token.created_at)}\t{expires}\t{used}")
        return 0
    if args.action == "create":
        applications = tuple(args.applications) if args.applications else None
        command = CreateToken(args.name, args.scope, applications, args.expires_in_days, args.reveal)
    else:
        command = RevokeToken(name=args.name)
    try:
        row = run_on(cur, command).row
    except (Conflict, InvalidCommand, NotFound) as error:
        print(f"token: {error}", file=sys.stderr)
        return 1
    if args.action == "create":
        print(row["secret"])
        expires = "" if row["expires_at"] is None else f", expiring {row['expires_at'][:19].replace('T', ' ')}Z"
        print(
            f"token {row['name']!r} ({row['scope']}{expires}) created: the line above is its secret, shown this "
            "once; send it as `Authorization: Bearer <secret>`",
            file=sys.stderr,
        )
    else:
        print(f"token {row['name']!r} revoked", file=sys.stderr)
    return 0


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
