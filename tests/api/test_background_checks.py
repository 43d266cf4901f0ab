"""What requests cannot starve: /health answers from a background check (no database round trip
per call), and the tokens are read again on a lane of their own, until that works; and a
flood of 503s logs a line a second, with a count. Here the read lane is filled by requests
stuck behind a lock (one worker, room for one waiting request); tests/reliability/
test_health_flood.py does the same with thousands of connections on two instances."""

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest
from fastapi.testclient import TestClient
from psycopg2.extensions import parse_dsn
from starlette.requests import Request

from api.app import create_app
from api.errors import handler_for
from commands.applications import CreateApplication
from commands.tokens import CreateToken, RevokeToken
from infra.database import Overloaded
from tests.support import app_settings, perform

API = "/api/v1"
FEED = f"{API}/changes?after=0&limit=1"  # from before the floor: read from the database


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def wait_until(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"not within {timeout}s"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def narrow(database_url, db) -> Iterator[tuple[TestClient, dict]]:
    """An instance with AUTH=tokens, one read worker and room for one waiting read; and an
    admin token's headers."""
    perform(db, CreateApplication(f"before-{uuid.uuid4().hex}"))  # the feed has something before the floor
    settings = app_settings(database_url, auth="tokens", db_read_workers=1, db_queue_max=1, db_queue_timeout=20)
    with TestClient(create_app(settings)) as client:
        admin = bearer(perform(db, CreateToken(f"admin-{uuid.uuid4().hex[:8]}", "admin"))["secret"])
        wait_until(lambda: client.get(f"{API}/tokens/current", headers=admin).status_code == 200, 5)
        yield client, admin


@contextmanager
def read_lane_full(client: TestClient, headers: dict, database_url: str) -> Iterator[None]:
    """Reads of the feed stuck behind a lock on it hold the one worker and fill the queue."""
    blocker = psycopg2.connect(database_url)
    threads: list[threading.Thread] = []
    answers: list[int] = []
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE changes IN ACCESS EXCLUSIVE MODE")
        for _ in range(3):
            thread = threading.Thread(target=lambda: answers.append(client.get(FEED, headers=headers).status_code))
            thread.start()
            threads.append(thread)
        wait_until(lambda: 503 in answers, 10)  # the third found the queue full
        yield
    finally:
        blocker.rollback()
        blocker.close()
        for thread in threads:
            thread.join(30)


def test_health_stays_200_and_costs_no_database_round_trip_while_the_read_lane_is_full(narrow, database_url):
    client, admin = narrow
    app = client.post(f"{API}/applications", json={"name": f"held-{uuid.uuid4().hex}"}, headers=admin).json()
    client.get(f"{API}/config/{app['name']}", headers=admin)  # held in memory from now on
    with read_lane_full(client, admin, database_url):
        refused = client.get(FEED, headers=admin)
        assert refused.status_code == 503 and refused.json()["code"] == "overloaded"
        for _ in range(50):
            response = client.get("/health")
            assert response.status_code == 200, response.text
            assert response.json()["database"] == "ok"
        # Authenticated reads from memory are served meanwhile.
        assert client.get(f"{API}/config/{app['name']}", headers=admin).status_code == 200


def test_health_says_503_within_a_second_when_the_database_stops_answering(database_url, new_database, caplog):
    """The other way: the background check notices, and logs each change of state once."""
    caplog.set_level(logging.INFO, logger="infra.health")
    dsn = new_database()
    name = parse_dsn(dsn)["dbname"]
    with TestClient(create_app(app_settings(dsn))) as client:
        assert client.get("/health").status_code == 200
        admin = psycopg2.connect(database_url)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:  # refuse new connections, end the service's
                cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            wait_until(lambda: client.get("/health").status_code == 503, 1)
            for _ in range(20):
                assert client.get("/health").json()["code"] == "database_unavailable"
            time.sleep(1)  # two more checks, both failing
        finally:
            with admin.cursor() as cur:
                cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.close()
        wait_until(lambda: client.get("/health").status_code == 200, 5)
    said = [r.getMessage() for r in caplog.records if r.name == "infra.health"]
    assert len(said) == 2, said
    assert said[0].startswith("database unavailable: ") and said[1].startswith("database answers again, after")


def test_a_revoked_token_is_refused_within_a_second_while_the_read_lane_is_full(narrow, database_url, db):
    client, admin = narrow
    row = perform(db, CreateToken(f"doomed-{uuid.uuid4().hex[:8]}", "read"))
    doomed = bearer(row["secret"])
    wait_until(lambda: client.get(f"{API}/tokens/current", headers=doomed).status_code == 200, 5)
    with read_lane_full(client, admin, database_url):
        perform(db, RevokeToken(id=row["id"]))  # elsewhere: this instance hears of it
        wait_until(lambda: client.get(f"{API}/tokens/current", headers=doomed).status_code == 401, 1)


def test_a_token_reload_that_fails_is_tried_again_until_it_works(database_url, db, caplog):
    """The tokens table is locked while the instance hears of a change: its reads of them time
    out, again and again, until the lock goes and one works."""
    caplog.set_level(logging.INFO, logger="queries.tokens")
    settings = app_settings(database_url, auth="tokens", db_statement_timeout_ms=200)
    with TestClient(create_app(settings)) as client:
        row = perform(db, CreateToken(f"quiet-{uuid.uuid4().hex[:8]}", "read"))
        headers = bearer(row["secret"])
        wait_until(lambda: client.get(f"{API}/tokens/current", headers=headers).status_code == 200, 5)
        locker = psycopg2.connect(database_url)
        announcer = psycopg2.connect(database_url)
        announcer.autocommit = True
        try:
            with locker.cursor() as cur:
                # Revoked silently (no announcement), under a lock that keeps every reader out.
                cur.execute("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")
                cur.execute("ALTER TABLE tokens DISABLE TRIGGER tokens_announce")
                cur.execute("UPDATE tokens SET revoked_at = now() WHERE id = %s", (row["id"],))
                cur.execute("ALTER TABLE tokens ENABLE TRIGGER tokens_announce")
            with announcer.cursor() as cur:
                cur.execute("""NOTIFY config_changes, '{"token": "someone else"}'""")
            wait_until(lambda: "could not read the tokens again" in caplog.text, 5)
            time.sleep(0.5)  # several reads failed by now
            assert client.get(f"{API}/tokens/current", headers=headers).status_code == 200
            locker.commit()  # the revocation is visible; nothing announces it
        finally:
            locker.rollback()
            locker.close()
            announcer.close()
        wait_until(lambda: client.get(f"{API}/tokens/current", headers=headers).status_code == 401, 1)
    assert "read the tokens again, after" in caplog.text


def test_503s_are_logged_at_most_once_a_second_per_cause_with_a_count(caplog):
    app = create_app(app_settings("postgresql://nowhere/never"))
    caplog.set_level(logging.WARNING, logger="api")
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "state": {"request_id": "r"}}
    overloaded = Overloaded("too many requests are waiting for the database")
    handler = handler_for(app, overloaded)

    async def answer(times: int, exc: Exception) -> None:
        for _ in range(times):
            response = await handler(Request(scope), exc)
            assert response.status_code == 503

    asyncio.run(answer(2000, overloaded))
    asyncio.run(answer(1, Overloaded("timed out waiting for a database worker")))  # another cause
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("503 ")]
    assert len(lines) == 2, lines
    time.sleep(1.05)
    asyncio.run(answer(1, overloaded))
    last = [r.getMessage() for r in caplog.records if r.getMessage().startswith("503 ")][-1]
    assert "503 overloaded: too many requests are waiting" in last and "(and 1999 more like it in the last" in last
