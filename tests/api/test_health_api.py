"""/health says ok only once the read model holds everything it loads at start. The service
waits for that load before it serves at all (up to DB_STARTUP_WAIT); past that wait it
serves, and /health says 503 `starting` until the load is done, so that a load balancer sends
it no reads it would pass to the database."""

import logging
import threading
import time

from fastapi.testclient import TestClient

from api.app import create_app
from queries.follow import ReadSide
from tests.support import app_settings


def test_health_is_503_while_the_read_model_loads_and_ok_once_it_is_loaded(database_url, monkeypatch, caplog):
    loading = threading.Event()
    release = threading.Event()
    catch_up = ReadSide.catch_up

    def slow_catch_up(self, conn):  # the listener's thread: the bulk load, held back
        loading.set()
        release.wait(30)
        return catch_up(self, conn)

    monkeypatch.setattr(ReadSide, "catch_up", slow_catch_up)
    caplog.set_level(logging.INFO, logger="queries")
    started = time.monotonic()
    with TestClient(create_app(app_settings(database_url, db_startup_wait=1))) as client:
        # The service waited for the load (its whole DB_STARTUP_WAIT), then went on without it.
        assert loading.is_set() and time.monotonic() - started >= 1
        response = client.get("/health")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert (response.json()["code"], response.json()["read_model"]) == ("starting", "loading")

        release.set()
        deadline = time.monotonic() + 10
        while (response := client.get("/health")).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert response.json()["read_model"] == "live"
    assert any("read model:" in record.getMessage() and "names and" in record.getMessage() for record in caplog.records)
