"""An unexpected failure: a 500 in the one error shape, its request id logged once, and
nothing of the internals (SQL, stack trace, connection string) in the response."""

import logging
import re

import psycopg2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from migrations import migrate
from tests.support import app_settings


@pytest.fixture
def broken_app(new_database):
    """An instance whose schema someone changed underneath it: every query of applications fails."""
    dsn = new_database()
    migrate(dsn)
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("ALTER TABLE applications RENAME COLUMN comments TO notes")
    finally:
        conn.close()
    with TestClient(create_app(app_settings(dsn, migrate_on_start=False))) as client:
        yield client, dsn


def test_an_unexpected_error_is_a_500_logged_once_with_its_request_id(broken_app, caplog):
    client, dsn = broken_app
    with caplog.at_level(logging.INFO):
        response = client.post("/api/v1/applications", json={"name": "x"}, headers={"x-request-id": "req-500-test"})

    assert response.status_code == 500
    body = response.json()
    assert body == {
        "code": "internal_error",
        "message": "internal error; quote the request id when reporting it",
        "details": [],
        "request_id": "req-500-test",
    }
    assert response.headers["x-request-id"] == "req-500-test"
    text = response.text
    assert not re.search(r"INSERT|SELECT|comments|column|Traceback|psycopg2|postgres", text)
    assert dsn not in text

    mentions = [record for record in caplog.records if "req-500-test" in record.getMessage()]
    assert len(mentions) == 1
    assert mentions[0].levelno == logging.ERROR and mentions[0].exc_info is not None


def test_reads_that_fail_unexpectedly_are_500s_too(broken_app):
    client, _ = broken_app
    response = client.get("/api/v1/applications")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
