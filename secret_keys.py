"""The keys of secret values, from the command line (against DATABASE_URL, or the embedded
database, joining the one `serve` runs, if it runs); the key file is SECRETS_KEYS, or the
embedded database's `secrets.key`:

    pipenv run secrets keygen --file PATH   # a new key file, one key, mode 0600
    pipenv run secrets rotate               # a new sealing key, then `reencrypt`
    pipenv run secrets reencrypt            # every secret value sealed again with the sealing key
    pipenv run secrets check                # how many values each key seals

`rotate` appends a key to the file (the last one seals), then `reencrypt`: it announces the
new key to every instance (each reads its file again: on several hosts, copy the file to each
first), waits until every instance seen within the last minute holds it (else it stops, naming
those that do not), then seals every secret value again with it, in batches, each a short
transaction of its own: reads and writes go on meanwhile. Old keys keep opening what they
sealed until they are removed from the file; `check` says when one seals nothing any more.
"""

import argparse
import socket
import sys
import time
from pathlib import Path

import psycopg2
from psycopg2.extras import RealDictCursor

import migrations
from commands.secret_keys import Resealed, reseal_batch
from infra.database import connect_kwargs
from infra.keyring import KeyFileError, Keyring, add_key, create_key_file, key_file, read_key_file
from infra.postgres import PostgresError, provide_database
from infra.settings import SettingsError, load_settings
from queries.secret_values import count_sealed, key_holders

CHANNEL = "config_changes"  # where the instances listen (api/app.py)
ACTOR = f"secrets rotate on {socket.gethostname()}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="secrets", description="The keys that seal secret values.")
    actions = parser.add_subparsers(dest="action", required=True)
    keygen = actions.add_parser("keygen", help="make a new key file with one key (mode 0600)")
    keygen.add_argument("--file", required=True, type=Path, help="where; it must not exist")
    for name, text in (
        ("rotate", "add a new sealing key to the key file, then seal every secret value with it"),
        ("reencrypt", "seal every secret value with the key file's sealing key (its last key)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--wait", type=float, default=30.0, metavar="SECONDS", help="how long to wait for every instance (30)"
        )
        action.add_argument("--batch", type=int, default=200, metavar="N", help="rows per transaction (200)")
    actions.add_parser("check", help="how many secret values each key seals")
    args = parser.parse_args(argv)

    try:
        if args.action == "keygen":
            id = create_key_file(args.file)
            print(
                f"made {args.file} with key {id}: set SECRETS_KEYS={args.file.resolve()}; back it up, apart from "
                "the database",
                file=sys.stderr,
            )
            return 0
        settings = load_settings()
        path = key_file(settings.secrets_keys, settings.database_url, settings.pg_data_dir)
        if path is None:
            print(
                "secrets: no key file: set SECRETS_KEYS (make one with `secrets keygen --file PATH`)", file=sys.stderr
            )
            return 1
        if args.action == "rotate":
            id = add_key(path)
            print(f"added key {id} to {path}: it seals new values from now on", file=sys.stderr)
        keyring = Keyring(path)
        with provide_database(settings, join_running=True) as dsn:
            migrations.migrate(dsn)
            conn = psycopg2.connect(dsn, cursor_factory=RealDictCursor, **connect_kwargs(settings.db_connect_timeout))
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    if args.action == "check":
                        return _check(cur, path)
                    return _reencrypt(cur, keyring, args.wait, args.batch)
            finally:
                conn.close()
    except (SettingsError, KeyFileError, PostgresError, migrations.MigrationError, psycopg2.OperationalError) as exc:
        print(f"secrets: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1


def _reencrypt(cur, keyring: Keyring, wait: float, batch: int) -> int:
    key = keyring.sealing_id
    cur.execute("SELECT pg_notify(%s, json_build_object('secrets_keys', %s::text)::text)", (CHANNEL, key))
    lagging = _wait_for_instances(cur, key, wait)
    if lagging:
        for holder in lagging:
            print(
                f"secrets: instance {holder['instance_id']} on {holder['host']} (pid {holder['pid']}), seen "
                f"{holder['seen_at']:%H:%M:%S}, has not loaded key {key} (it holds {', '.join(holder['key_ids'])})",
                file=sys.stderr,
            )
        print(
            f"secrets: nothing was sealed again: give those instances the key file with key {key} (on another "
            "host, copy it there), then run `pipenv run secrets reencrypt`",
            file=sys.stderr,
        )
        return 1
    started = time.monotonic()
    total, unopenable = Resealed(unopenable=[]), []
    for _ in range(10):  # passes: rows changed meanwhile are read again in the next one
        done = _one_pass(cur, keyring, batch)
        total.rows += done.rows
        unopenable = done.unopenable
        if not done.raced:
            break
    seconds = time.monotonic() - started
    print(f"sealed {total.rows} documents again with key {key} in {seconds:.1f}s", file=sys.stderr)
    for where in unopenable[:20]:
        print(f"secrets: not sealed again: {where}", file=sys.stderr)
    counts = count_sealed(cur)
    others = {id: n for id, n in counts.by_key.items() if id != key}
    if others or counts.unsealed or unopenable:
        print(
            f"secrets: still sealed by other keys: {others or 'none'}; not sealed: {counts.unsealed}", file=sys.stderr
        )
        return 1
    print(f"every secret value ({counts.by_key[key]}) is sealed by key {key}", file=sys.stderr)
    return 0


def _wait_for_instances(cur, key: str, wait: float) -> list[dict]:
    """The instances seen within the last minute that still lack `key` after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        lagging = [h for h in key_holders(cur) if key not in h["key_ids"]]
        if not lagging or time.monotonic() >= deadline:
            return lagging
        time.sleep(0.2)


def _one_pass(cur, keyring: Keyring, batch: int) -> Resealed:
    done = Resealed(unopenable=[])
    for table in ("configurations", "versions"):
        after: tuple[str, int] | None = ("", 0)
        while after is not None:
            after, result = reseal_batch(cur, keyring, table, after, batch, ACTOR)
            done.rows += result.rows
            done.raced += result.raced
            done.unopenable += result.unopenable or []
    return done


def _check(cur, path: Path) -> int:
    keys = [id for id, _ in read_key_file(path)]
    counts = count_sealed(cur)
    for id in keys:
        role = "sealing key" if id == keys[-1] else "opens only"
        n = counts.by_key.get(id, 0)
        hint = (
            "; seals nothing: it may be removed (keep it while backups it opens are kept)"
            if not n and id != keys[-1]
            else ""
        )
        print(f"{id}\t{n} values\t{role}{hint}")
    for id, n in sorted(counts.by_key.items()):
        if id not in keys:
            print(f"{id}\t{n} values\tNOT IN {path}: these cannot be opened")
    print(f"not sealed\t{counts.unsealed} values")
    for holder in key_holders(cur):
        print(
            f"instance {holder['instance_id']} on {holder['host']} (pid {holder['pid']}): "
            f"{', '.join(holder['key_ids'])}"
        )
    return 0 if counts.unsealed == 0 and all(id in keys for id in counts.by_key) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
