"""Tokens that expire, and when each was last used: `expires_in_days` on creation, 401
`token_expired` once past it (decided in memory, no database read), and `last_used_at` kept
in memory by every request and written for all tokens at once, in the background."""

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg2
import psycopg2.extras
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from commands.tokens import CreateToken, record_token_use
from infra.access import secret_hash
from queries.tokens import active_tokens
from tests.support import app_settings, perform

API = "/api/v1"


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def wait_until(predicate, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(0.01)


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def secured(database_url) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(database_url, auth="tokens", auth_failure_limit=10_000))) as client:
        yield client


@pytest.fixture
def admin(secured, db) -> dict:
    headers = bearer(perform(db, CreateToken(f"admin-{uuid.uuid4().hex[:8]}", "admin"))["secret"])
    wait_until(lambda: secured.get(f"{API}/tokens/current", headers=headers).status_code == 200)
    return headers


def listed(client: TestClient, admin: dict, token_id: str) -> dict:
    return next(t for t in client.get(f"{API}/tokens", headers=admin).json() if t["id"] == token_id)


def set_expiry(database_url: str, token_id: str, sql: str) -> None:
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"UPDATE tokens SET expires_at = {sql} WHERE id = %s", (token_id,))
    finally:
        conn.close()


def test_a_token_created_to_expire_says_when_and_one_without_never(secured, admin):
    made = secured.post(
        f"{API}/tokens", json={"name": f"t-{uuid.uuid4().hex}", "scope": "read", "expires_in_days": 30}, headers=admin
    )
    assert made.status_code == 201, made.text
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(when(made.json()["expires_at"]) - expected) < timedelta(minutes=1)
    assert made.json()["last_used_at"] is None
    assert when(listed(secured, admin, made.json()["id"])["expires_at"]) == when(made.json()["expires_at"])

    forever = secured.post(f"{API}/tokens", json={"name": f"t-{uuid.uuid4().hex}", "scope": "read"}, headers=admin)
    assert forever.json()["expires_at"] is None


@pytest.mark.parametrize("days", [0, -1, 3651, 1.5, "soon"])
def test_expires_in_days_is_1_to_3650(secured, admin, days):
    body = {"name": f"t-{uuid.uuid4().hex}", "scope": "read", "expires_in_days": days}
    response = secured.post(f"{API}/tokens", json=body, headers=admin)
    assert response.status_code == 422
    assert [d["location"] for d in response.json()["details"]] == ["body.expires_in_days"]


def test_a_token_past_its_expiry_is_401_token_expired_without_a_database_read(secured, db, database_url, monkeypatch):
    row = perform(db, CreateToken(f"brief-{uuid.uuid4().hex[:8]}", "read", expires_in_days=1))
    headers = bearer(row["secret"])
    wait_until(lambda: secured.get(f"{API}/tokens/current", headers=headers).status_code == 200)
    set_expiry(database_url, row["id"], "clock_timestamp() + interval '1 second'")  # announced: read again
    held = secured.app.state.services.tokens
    wait_until(lambda: held.find(row["secret"].encode()).expires_at < time.time() + 5)  # the new expiry
    expires_at = held.find(row["secret"].encode()).expires_at

    database = secured.app.state.services.db
    reads = []  # (lane, what) from here on
    for lane in ("query", "upkeep"):
        original = getattr(database, lane)
        monkeypatch.setattr(database, lane, lambda fn, *a, _o=original, _l=lane: reads.append((_l, fn)) or _o(fn, *a))
    assert secured.get(f"{API}/tokens/current", headers=headers).status_code == 200
    time.sleep(max(0.0, expires_at - time.time()) + 0.05)
    refused = secured.get(f"{API}/tokens/current", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_expired"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert [what for lane, what in reads if lane == "query" or what is active_tokens] == []


def test_an_expiry_set_in_the_past_refuses_the_token_on_the_instances(secured, db, database_url):
    row = perform(db, CreateToken(f"cut-{uuid.uuid4().hex[:8]}", "read"))
    headers = bearer(row["secret"])
    wait_until(lambda: secured.get(f"{API}/tokens/current", headers=headers).status_code == 200)
    set_expiry(database_url, row["id"], "clock_timestamp() - interval '1 second'")
    wait_until(lambda: secured.get(f"{API}/tokens/current", headers=headers).status_code == 401, 1)
    assert secured.get(f"{API}/tokens/current", headers=headers).json()["code"] == "token_expired"


def test_last_use_is_kept_in_memory_and_written_in_the_background_not_per_request(database_url, db):
    with TestClient(create_app(app_settings(database_url, auth="tokens"))) as client:
        admin = bearer(perform(db, CreateToken(f"admin-{uuid.uuid4().hex[:8]}", "admin"))["secret"])
        reader = perform(db, CreateToken(f"reader-{uuid.uuid4().hex[:8]}", "read"))
        wait_until(lambda: client.get(f"{API}/tokens/current", headers=bearer(reader["secret"])).status_code == 200)
        before = datetime.now(UTC)
        for _ in range(20):
            assert client.get(f"{API}/applications", headers=bearer(reader["secret"])).status_code == 200
        # Not written per request...
        assert stored_last_use(database_url, reader["id"]) is None
        # ...but shown at once by the instance that saw it.
        shown = when(listed(client, admin, reader["id"])["last_used_at"])
        assert shown is not None and before - timedelta(seconds=1) <= shown <= datetime.now(UTC)
    # Written when the instance stops (else at most once a minute), for every token used.
    stored = stored_last_use(database_url, reader["id"])
    assert stored is not None and abs(stored - shown) < timedelta(milliseconds=1)
    assert stored_last_use(database_url, admin_id(database_url, admin)) is not None


def stored_last_use(database_url: str, token_id: str) -> datetime | None:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT last_used_at FROM tokens WHERE id = %s", (token_id,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def admin_id(database_url: str, headers: dict) -> str:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            secret = headers["Authorization"].removeprefix("Bearer ")
            cur.execute("SELECT id FROM tokens WHERE secret_hash = %s", (secret_hash(secret),))
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_recording_last_use_announces_nothing_and_keeps_a_later_use(database_url, db):
    """Else every instance would read its tokens again each minute."""
    row = perform(db, CreateToken(f"quiet-{uuid.uuid4().hex[:8]}", "read"))
    listener = psycopg2.connect(database_url)
    listener.autocommit = True
    writer = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    writer.autocommit = True
    try:
        with listener.cursor() as cur:
            cur.execute("LISTEN config_changes")
        now = time.time()
        with writer.cursor() as cur:
            record_token_use(cur, {row["id"]: now})
            record_token_use(cur, {row["id"]: now - 60})  # an older use, from a slower instance
        time.sleep(0.2)
        listener.poll()
        assert listener.notifies == []
        assert abs(stored_last_use(database_url, row["id"]).timestamp() - now) < 0.001
        set_expiry(database_url, row["id"], "clock_timestamp() + interval '1 day'")  # a change is announced
        time.sleep(0.2)
        listener.poll()
        assert len(listener.notifies) == 1 and row["id"] in listener.notifies[0].payload
    finally:
        listener.close()
        writer.close()
