"""Rewriting sealed values without changing what they seal (resealing), and which keys each
instance holds.

Resealing (migrations/0011): a transaction that sets `config_service.resealing` may rewrite
the documents of configurations and of their versions where their secret values are sealed,
and nothing else; it is no change (no revision, no version, no feed entry: every view shows
the same thing before and after), and it records itself in `secret_reseals`. Two things
reseal:

- marking a pointer seals it in every earlier version of the configuration
  (`seal_versions`, right after the change that marked it);
- a rotation seals every secret value with the keyring's sealing key (`reseal_batch`, batch
  after batch, each a short transaction of its own, while reads and writes go on).

Each row is rewritten only if it still holds what was read (its document's text compared),
so a change that committed meanwhile is never undone: the row is read again in the next pass.
"""

import os
import socket
from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

from infra.documents import literal, written
from infra.keyring import Keyring, Unsealable
from infra.sealing import pointers_of, reveal_tree, seal_tree, sealed_key_ids

VERSIONS_OF = """
SELECT version, document::text AS document, secrets
FROM configuration_versions WHERE configuration_id = %(id)s
ORDER BY version
"""
# Keyset pages of the rows that have secret values.
CURRENT_PAGE = """
SELECT id, id AS configuration_id, NULL::integer AS version, document::text AS document, secrets
FROM configurations
WHERE secrets <> '{}' AND id > %(after_id)s
ORDER BY id LIMIT %(limit)s
"""
VERSIONS_PAGE = """
SELECT configuration_id AS id, configuration_id, version, document::text AS document, secrets
FROM configuration_versions
WHERE secrets <> '{}' AND (configuration_id, version) > (%(after_id)s, %(after_version)s)
ORDER BY configuration_id, version LIMIT %(limit)s
"""

BEGIN_RESEALING = "BEGIN; SELECT set_config('config_service.resealing', 'on', true)"
RESEAL_CURRENT = """
UPDATE configurations c SET document = n.document::json
FROM unnest(%(ids)s::text[], %(olds)s::text[], %(news)s::text[]) AS n(id, old, document)
WHERE c.id = n.id AND c.document::text = n.old
"""
RESEAL_VERSIONS = """
UPDATE configuration_versions v SET document = n.document::json, secrets = n.secrets::text[]
FROM unnest(%(ids)s::text[], %(versions)s::integer[], %(olds)s::text[], %(news)s::text[], %(secrets)s::text[])
     AS n(id, version, old, document, secrets)
WHERE v.configuration_id = n.id AND v.version = n.version AND v.document::text = n.old
"""
RECORD_RESEAL = """
INSERT INTO secret_reseals (reason, key_id, configuration_id, configurations, versions, actor)
VALUES (%(reason)s, %(key_id)s, %(configuration_id)s, %(configurations)s, %(versions)s, %(actor)s)
"""


@dataclass
class Resealed:
    rows: int = 0  # rows rewritten
    unchanged: int = 0  # rows whose values were sealed by the sealing key already
    raced: int = 0  # rows changed meanwhile (read again in a later pass)
    unopenable: list[str] | None = None  # where a value did not open (its key is not loaded)


def seal_versions(
    cur: Cursor, keyring: Keyring, configuration_id: str, marked: tuple[str, ...], actor: str | None = None
) -> Resealed:
    """Seals the newly `marked` pointers in every version of the configuration that does not
    list them yet, and lists them there."""
    cur.execute(VERSIONS_OF, {"id": configuration_id})
    changed = []
    for row in cur.fetchall():
        listed = tuple(row["secrets"])
        if all(p in listed for p in marked):
            continue
        pointers = pointers_of((*listed, *marked))
        tree = reveal_tree(literal(row["document"]), listed, keyring, configuration_id, strict=True)
        new = written(seal_tree(tree, pointers, keyring, configuration_id))
        changed.append((configuration_id, row["version"], row["document"], new, pointers))
    result = Resealed()
    if changed:
        result.rows = _write(cur, [], changed, "marked", keyring, configuration_id, actor)
        result.raced = len(changed) - result.rows
    return result


def reseal_batch(
    cur: Cursor, keyring: Keyring, table: str, after: tuple[str, int], limit: int = 200, actor: str | None = None
) -> tuple[tuple[str, int] | None, Resealed]:
    """One batch of a rotation: up to `limit` rows of `table` ('configurations' or
    'versions') after the keyset position `after`, each sealed again with the sealing key
    when any of its secret values is not; the position to continue after (None: done)."""
    sql = CURRENT_PAGE if table == "configurations" else VERSIONS_PAGE
    cur.execute(sql, {"after_id": after[0], "after_version": after[1], "limit": limit})
    rows = cur.fetchall()
    result = Resealed(unopenable=[])
    current, versions = [], []
    for row in rows:
        id, pointers = row["configuration_id"], tuple(row["secrets"])
        tree = literal(row["document"])
        if all(key == keyring.sealing_id for key in sealed_key_ids(tree, pointers)):
            result.unchanged += 1
            continue
        try:
            reveal_tree(tree, pointers, keyring, id, strict=True)
        except Unsealable as exc:
            where = f"configuration {id}" + ("" if row["version"] is None else f" version {row['version']}")
            result.unopenable.append(f"{where}: {exc}")
            continue
        new = written(seal_tree(tree, pointers, keyring, id))
        if row["version"] is None:
            current.append((id, row["document"], new))
        else:
            versions.append((id, row["version"], row["document"], new, pointers))
    if current or versions:
        result.rows = _write(cur, current, versions, "rotated", keyring, None, actor)
        result.raced = len(current) + len(versions) - result.rows
    if len(rows) < limit:
        return None, result
    last = rows[-1]
    return (last["configuration_id"], last["version"] or 0), result


def _write(
    cur: Cursor,
    current: list[tuple[str, str, str]],
    versions: list[tuple[str, int, str, str, tuple[str, ...]]],
    reason: str,
    keyring: Keyring,
    configuration_id: str | None,
    actor: str | None,
) -> int:
    """Rewrites the rows in one short transaction of their own; how many still held what was read."""
    cur.execute(BEGIN_RESEALING)
    try:
        done_current = done_versions = 0
        if current:
            cur.execute(
                RESEAL_CURRENT,
                {"ids": [c[0] for c in current], "olds": [c[1] for c in current], "news": [c[2] for c in current]},
            )
            done_current = cur.rowcount
        if versions:
            cur.execute(
                RESEAL_VERSIONS,
                {
                    "ids": [v[0] for v in versions],
                    "versions": [v[1] for v in versions],
                    "olds": [v[2] for v in versions],
                    "news": [v[3] for v in versions],
                    # A text[] per row, as one text each (unnest cannot take an array of arrays).
                    "secrets": [_array_literal(v[4]) for v in versions],
                },
            )
            done_versions = cur.rowcount
        cur.execute(
            RECORD_RESEAL,
            {
                "reason": reason,
                "key_id": keyring.sealing_id,
                "configuration_id": configuration_id,
                "configurations": done_current,
                "versions": done_versions,
                "actor": actor,
            },
        )
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return done_current + done_versions


def _array_literal(items: tuple[str, ...]) -> str:
    """A PostgreSQL array literal of text items."""
    return "{" + ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items) + "}"


# -- which keys each instance holds -------------------------------------------------------------

RECORD_HOLDER = """
INSERT INTO secret_key_holders (instance_id, host, pid, key_ids, sealing_key, seen_at)
VALUES (%(instance_id)s, %(host)s, %(pid)s, %(key_ids)s, %(sealing_key)s, clock_timestamp())
ON CONFLICT (instance_id) DO UPDATE
SET key_ids = excluded.key_ids, sealing_key = excluded.sealing_key, seen_at = excluded.seen_at
"""
FORGET_GONE = "DELETE FROM secret_key_holders WHERE seen_at < clock_timestamp() - interval '1 day'"


def record_key_holder(cur: Cursor, instance_id: str, keyring: Keyring) -> None:
    """This instance is alive and holds these keys (and forgets instances gone for a day)."""
    params = {
        "instance_id": instance_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "key_ids": list(keyring.ids),
        "sealing_key": keyring.sealing_id,
    }
    cur.execute(RECORD_HOLDER, params)
    cur.execute(FORGET_GONE)
