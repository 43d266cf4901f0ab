"""SIGTERM: in-flight requests finish, the executors and pool close, the embedded PostgreSQL
stops cleanly, and the process exits 0."""

import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg2

from bench.service_process import ServiceProcess
from infra.postgres import embedded_url, free_port
from tests.support import postgres_processes_using


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(unique):
    root = Path(tempfile.mkdtemp(prefix="config-service-shutdown-"))
    pg_port = free_port()
    try:
        with ServiceProcess(pg_data_dir=root / "pgdata", pg_port=pg_port) as service:
            blocker = psycopg2.connect(embedded_url(root / "pgdata", pg_port))
            with blocker.cursor() as cur:
                cur.execute("LOCK TABLE applications IN ACCESS EXCLUSIVE MODE")  # writes now wait
            names = [unique("in-flight") for _ in range(5)]
            results: dict[str, int] = {}

            def create(name: str) -> None:
                response = httpx.post(f"{service.url}/api/v1/applications", json={"name": name}, timeout=30)
                results[name] = response.status_code

            threads = [threading.Thread(target=create, args=(name,)) for name in names]
            for thread in threads:
                thread.start()
            time.sleep(1)
            service.process.send_signal(signal.SIGTERM)
            time.sleep(1)
            assert service.process.poll() is None  # waiting for the requests in flight
            blocker.rollback()
            blocker.close()
            for thread in threads:
                thread.join()
            assert service.process.wait(timeout=30) == 0

        assert results == dict.fromkeys(names, 201)
        log = service.log()
        assert "embedded PostgreSQL stopped" in log
        assert "Traceback" not in log
        assert postgres_processes_using(root) == []

        # The five writes were committed before the database stopped.
        with ServiceProcess(pg_data_dir=root / "pgdata", pg_port=pg_port) as again:
            listed = httpx.get(f"{again.url}/api/v1/applications", params={"limit": 1000}).json()
            assert set(names) <= {app["name"] for app in listed}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_sigterm_on_an_idle_service_exits_0_promptly(database_url):
    with ServiceProcess(database_url=database_url) as service:
        started = time.monotonic()
        assert service.stop() == 0
        assert time.monotonic() - started < 5


def test_sigterm_answers_held_watches_and_feed_waits_at_once(database_url, unique):
    with ServiceProcess(database_url=database_url) as service:  # SHUTDOWN_GRACE: the default 10 s
        app = httpx.post(f"{service.url}/api/v1/applications", json={"name": unique("held")}).json()
        httpx.post(
            f"{service.url}/api/v1/configurations", json={"application_id": app["id"], "name": "c", "config": {}}
        )
        url = f"{service.url}/api/v1/config/{app['name']}/c"
        tag = httpx.get(url).headers["etag"]
        latest = httpx.get(f"{service.url}/api/v1/changes", params={"after": 0, "limit": 1000}).json()
        after = latest[-1]["revision"] if len(latest) < 1000 else 10**12
        answers: dict[str, httpx.Response] = {}

        def hold(kind: str) -> None:
            if kind == "watch":
                answers[kind] = httpx.get(url, params={"wait": 60}, headers={"If-None-Match": tag}, timeout=90)
            else:
                answers[kind] = httpx.get(
                    f"{service.url}/api/v1/changes", params={"after": after, "wait": 60}, timeout=90
                )

        threads = [threading.Thread(target=hold, args=(kind,)) for kind in ("watch", "feed")]
        for thread in threads:
            thread.start()
        time.sleep(1)
        assert not answers  # held
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=30)
        assert service.process.wait(timeout=30) == 0
        stopped_in = time.monotonic() - started

    assert answers["watch"].status_code == 304 and answers["watch"].headers["etag"] == tag
    assert answers["feed"].status_code == 200 and answers["feed"].json() == []
    assert stopped_in < 5  # not the 10 s of grace, nor the 60 s of waiting
