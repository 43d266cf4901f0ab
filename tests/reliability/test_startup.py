"""Start-up: instances starting together migrate once; a database that is not up yet is
waited for, within a bound."""

import re
import threading
import time

import httpx
import psycopg2
import pytest

from bench.service_process import ServiceProcess
from conftest import start_throwaway_postgres, stop_throwaway_postgres
from migrations import discover


@pytest.fixture
def own_postgres():
    server = start_throwaway_postgres()
    yield server
    stop_throwaway_postgres(server)


def test_two_instances_starting_together_on_an_empty_database_apply_the_schema_once(own_postgres):
    dsn = own_postgres.create_database("twins")
    first, second = ServiceProcess(database_url=dsn), ServiceProcess(database_url=dsn)
    try:
        first.start()
        second.start()
        first.wait_healthy()
        second.wait_healthy()
        for service in (first, second):
            assert httpx.post(f"{service.url}/api/v1/applications", json={"name": service.url}).status_code == 201
    finally:
        first.close()
        second.close()

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version, count(*) FROM migrations GROUP BY version ORDER BY version")
            assert cur.fetchall() == [(m.version, 1) for m in discover()]
    finally:
        conn.close()
    applied = [int(n) for log in (first.log(), second.log()) for n in re.findall(r"migrations: (\d+) applied", log)]
    assert sorted(applied) == [0, len(discover())]


def test_a_service_started_before_its_database_waits_for_it(own_postgres):
    dsn = own_postgres.create_database("late")
    own_postgres.stop()
    service = ServiceProcess(database_url=dsn, db_startup_wait=60)
    try:
        service.start()
        deadline = time.monotonic() + 30  # on a busy machine the process takes a while to start
        while "unreachable" not in service.log():
            assert time.monotonic() < deadline and service.process.poll() is None, service.log()
            time.sleep(0.1)
        time.sleep(1)
        assert service.process.poll() is None, service.log()  # still waiting, not crashed
        threading.Thread(target=own_postgres.start).start()  # from a thread: wait_healthy polls meanwhile
        service.wait_healthy(timeout=30)
    finally:
        service.close()


def test_the_wait_for_the_database_is_bounded(own_postgres):
    dsn = own_postgres.create_database("never")
    own_postgres.stop()
    service = ServiceProcess(database_url=dsn, db_startup_wait=2)
    try:
        service.start()
        started = time.monotonic()
        assert service.process.wait(timeout=30) == 1
        assert time.monotonic() - started < 15
    finally:
        service.close()
    assert re.search(r"cannot start: database 127\.0\.0\.1:\d+/never unreachable for 2s", service.log())
    assert "Traceback" not in service.log()
