"""Tokens on the write side: a secret is shown once and stored only as its SHA-256."""

import hashlib

import psycopg2

from commands.tokens import CreateToken
from infra.access import SECRET_PREFIX
from tests.support import perform


def test_a_secret_is_256_random_bits_stored_only_as_its_sha256(db, database_url, unique):
    made = perform(db, CreateToken(unique("t"), "read"))
    secret = made["secret"]
    assert secret.startswith(SECRET_PREFIX) and len(secret.removeprefix(SECRET_PREFIX)) >= 43  # 256 bits, base64

    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT to_jsonb(t)::text, secret_hash FROM tokens t WHERE id = %s", (made["id"],))
            row_text, stored_hash = cur.fetchone()
    finally:
        conn.close()
    assert stored_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in row_text and secret.removeprefix(SECRET_PREFIX) not in row_text
