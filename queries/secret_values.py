"""Where the secret values stand: how many each key seals (and how many are not sealed), over
every current document and every version; and which instances hold which keys. What
`pipenv run secrets check` and `secrets rotate` read."""

from collections import Counter
from dataclasses import dataclass, field

from psycopg2.extensions import cursor as Cursor

from infra.documents import literal
from infra.sealing import sealed_key_ids

# Keyset pages of the rows with secret values, current documents then versions.
ROWS_AFTER = """
SELECT 'current' AS kind, id AS configuration_id, 0 AS version, document::text AS document, secrets
FROM configurations
WHERE secrets <> '{}' AND %(table)s = 'configurations' AND id > %(after_id)s
UNION ALL
SELECT 'version', configuration_id, version, document::text, secrets
FROM configuration_versions
WHERE secrets <> '{}' AND %(table)s = 'versions' AND (configuration_id, version) > (%(after_id)s, %(after_version)s)
ORDER BY configuration_id, version
LIMIT %(limit)s
"""

# Instances seen within the last minute, and the keys each holds.
HOLDERS = """
SELECT instance_id, host, pid, key_ids, sealing_key, seen_at
FROM secret_key_holders
WHERE seen_at >= clock_timestamp() - interval '1 minute'
ORDER BY host, pid
"""


@dataclass
class SealedCounts:
    by_key: Counter = field(default_factory=Counter)  # key id -> values it seals
    unsealed: int = 0  # values at secret pointers not sealed (a marking left unfinished)
    rows: int = 0  # documents with secret pointers (current ones and versions)


def count_sealed(cur: Cursor, batch: int = 500) -> SealedCounts:
    """How many secret values each key seals, in every current document and every version."""
    counts = SealedCounts()
    for table in ("configurations", "versions"):
        after = ("", 0)
        while True:
            params = {"table": table, "after_id": after[0], "after_version": after[1], "limit": batch}
            cur.execute(ROWS_AFTER, params)
            rows = cur.fetchall()
            for row in rows:
                counts.rows += 1
                for key_id in sealed_key_ids(literal(row["document"]), row["secrets"]):
                    if key_id is None:
                        counts.unsealed += 1
                    else:
                        counts.by_key[key_id] += 1
            if len(rows) < batch:
                break
            after = (rows[-1]["configuration_id"], rows[-1]["version"])
    return counts


def key_holders(cur: Cursor) -> list[dict]:
    """The instances seen within the last minute, with the keys each holds."""
    cur.execute(HOLDERS)
    return cur.fetchall()
