"""SIGTERM: in-flight requests finish, the executors and pool close, the embedded PostgreSQL
stops cleanly, and the process exits 0."""

import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg2

from infra.postgres import free_port
from infra.service_process import ServiceProcess


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(unique):
    root = Path(tempfile.mkdtemp(prefix="config-service-shutdown-"))
    root.chmod(0o755)  # the embedded server's user must reach its data directory
    pg_port = free_port()
    try:
        with ServiceProcess(pg_data_dir=root / "pgdata", pg_port=pg_port) as service:
            blocker = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/config_service")
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
        ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
        assert str(root) not in ps

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
