"""Secret values, with the service run as in production: no plaintext anywhere in the database
(every table read with COPY ... TO STDOUT) nor in its log at DEBUG with ACCESS_LOG on, whatever
path the values took; a rotation made while reads and writes go on, all of them answered, with
every value sealed by the new key afterwards; a rotation refused while an instance running has
not loaded the new key."""

import io
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg2
import pytest
from psycopg2.extras import RealDictCursor

from bench.service_process import ServiceProcess
from infra.keyring import create_key_file, read_key_file
from infra.settings import PROJECT_ROOT
from queries.secret_values import count_sealed
from tests.support import TWO_INSTANCES_OR_TWO_WORKERS

API = "/api/v1"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def database(new_database) -> str:
    return new_database()


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "secrets.key"
    create_key_file(path)
    return path


def secrets_cli(database: str, key_file: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PROJECT_ROOT),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": database,
        "SECRETS_KEYS": str(key_file),
    }
    script = str(PROJECT_ROOT / "secret_keys.py")
    return subprocess.run(
        [sys.executable, script, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def every_table(database: str) -> bytes:
    """Everything the database holds, as COPY ... TO STDOUT writes it, table by table."""
    conn = psycopg2.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            tables = [row[0] for row in cur.fetchall()]
            assert {"configurations", "configuration_versions", "changes", "secret_reseals"} <= set(tables)
            out = []
            for table in tables:
                buffer = io.StringIO()
                cur.copy_expert(f'COPY "{table}" TO STDOUT', buffer)
                out.append(buffer.getvalue())
            return "\n".join(out).encode()
    finally:
        conn.close()


def test_no_plaintext_in_the_database_or_in_the_log_at_debug(database, key_file):
    plain = {name: f"{name}-{uuid.uuid4().hex}" for name in ("created", "put", "patched", "marked", "schema")}
    plain["bad"] = f"too-long-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    with ServiceProcess(database_url=database, secrets_keys=key_file, log_level="DEBUG", access_log="true") as service:
        with httpx.Client(base_url=service.url + API) as client:
            app = client.post("/applications", json={"name": f"app-{uuid.uuid4().hex[:8]}"}).json()
            body = {"application_id": app["id"], "name": "db", "config": {"password": plain["created"]}}
            config = client.post("/configurations", json={**body, "secrets": ["/password"]}).json()
            id = config["id"]
            client.put(f"/configurations/{id}", json={"name": "db", "config": {"password": plain["put"]}})
            client.patch(f"/configurations/{id}", json={"config": {"password": plain["patched"]}}, headers=MERGE_PATCH)
            # A value that was not secret, marked afterwards: its earlier versions are sealed too.
            other = client.post(
                "/configurations",
                json={"application_id": app["id"], "name": "api", "config": {"key": plain["marked"], "token": "x"}},
            ).json()
            client.put(f"/configurations/{other['id']}", json={"name": "api", "config": {"key": plain["marked"]}})
            client.patch(f"/configurations/{other['id']}", json={"secrets": ["/key"]}, headers=MERGE_PATCH)
            # A schema that marks a property x-secret.
            third = client.post(
                "/configurations",
                json={"application_id": app["id"], "name": "svc", "config": {"token": plain["schema"]}},
            ).json()
            schema = {"type": "object", "properties": {"token": {"type": "string", "x-secret": True, "maxLength": 40}}}
            assert client.put(f"/configurations/{third['id']}/schema", json=schema).status_code == 200
            # Refused writes: their errors (and the log of them) quote no secret value.
            refused = client.patch(
                f"/configurations/{third['id']}", json={"config": {"token": plain["bad"]}}, headers=MERGE_PATCH
            )
            assert refused.status_code == 422 and plain["bad"] not in refused.text
            client.post(f"/configurations/{id}/versions/1/restore").raise_for_status()
            for path in (f"/config/{app['name']}/db", f"/config/{app['name']}", f"/configurations/{id}/versions"):
                assert client.get(path).status_code == 200
            shown = client.get(f"/config/{app['name']}/db").json()["config"]["password"]
            assert shown == plain["created"]  # AUTH=off: shown (the restored version 1)
        log = service.log()
    dumped = every_table(database)
    assert b"$sealed:v1:" in dumped
    for name, value in plain.items():
        assert value.encode() not in dumped, f"{name}: plaintext in the database"
        assert value not in log, f"{name}: plaintext in the log"
    # The log was at DEBUG (the sealing step says what it sealed, not what), with access lines.
    assert f"DEBUG   commands.sealing: configuration {id}: sealed at /password with key" in log
    assert '"GET /api/v1/config/' in log


@TWO_INSTANCES_OR_TWO_WORKERS
def test_a_rotation_online_seals_every_value_with_the_new_key(database, key_file, tmp_path, topology):
    old_key = read_key_file(key_file)[0][0]
    count = 60
    with topology(database, secrets_keys=key_file) as processes:
        one, two = (process.url for process in processes)
        with httpx.Client(base_url=one + API, timeout=30) as client:
            app = client.post("/applications", json={"name": f"app-{uuid.uuid4().hex[:8]}"}).json()
            ids = []
            for n in range(count):
                body = {"application_id": app["id"], "name": f"c{n}", "config": {"pw": f"pw-{n}-0", "n": n}}
                ids.append(client.post("/configurations", json={**body, "secrets": ["/pw"]}).json()["id"])
                client.put(f"/configurations/{ids[-1]}", json={"name": f"c{n}", "config": {"pw": f"pw-{n}-1", "n": n}})
        # Both instances (workers) said which keys they hold (at start).
        assert _holders(database) >= 2

        failures: list[str] = []
        done = {"reads": 0, "writes": 0}
        stop = threading.Event()

        def read(base: str) -> None:
            with httpx.Client(base_url=base + API, timeout=30) as client:
                while not stop.is_set():
                    n = random.randrange(count)
                    response = client.get(f"/config/{app['name']}/c{n}")
                    if response.status_code != 200 or not response.json()["config"]["pw"].startswith(f"pw-{n}-"):
                        failures.append(f"read c{n}: {response.status_code} {response.text[:200]}")
                    done["reads"] += 1

        def write(base: str) -> None:
            with httpx.Client(base_url=base + API, timeout=30) as client:
                version = 2
                while not stop.is_set():
                    n = random.randrange(count)
                    patch = {"config": {"pw": f"pw-{n}-{version}"}}
                    response = client.patch(f"/configurations/{ids[n]}", json=patch, headers=MERGE_PATCH)
                    if response.status_code != 200:
                        failures.append(f"write c{n}: {response.status_code} {response.text[:200]}")
                    done["writes"] += 1
                    version += 1
                    time.sleep(0.01)

        threads = [threading.Thread(target=read, args=(one,)), threading.Thread(target=read, args=(two,))]
        threads += [threading.Thread(target=write, args=(one,)), threading.Thread(target=write, args=(two,))]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            rotated = secrets_cli(database, key_file, "rotate", "--batch", "20", cwd=tmp_path)
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join()

        assert rotated.returncode == 0, rotated.stderr
        new_key = read_key_file(key_file)[-1][0]
        assert new_key != old_key and f"sealed by key {new_key}" in rotated.stderr
        assert not failures, failures[:5]
        assert done["reads"] > 50 and done["writes"] > 10
        counts = _counts(database)
        assert set(counts.by_key) == {new_key} and counts.unsealed == 0
        assert counts.by_key[new_key] >= 3 * count  # every version's value and every current one
        # Both instances seal with the new key now, and read every value (a connection each).
        for base in (one, two):
            with httpx.Client(timeout=30) as client:
                client.patch(
                    f"{base}{API}/configurations/{ids[0]}", json={"config": {"pw": "pw-0-x"}}, headers=MERGE_PATCH
                )
                assert client.get(f"{base}{API}/config/{app['name']}/c1").json()["config"]["pw"].startswith("pw-1-")
        assert set(_counts(database).by_key) == {new_key}
        checked = secrets_cli(database, key_file, "check", cwd=tmp_path)
        assert checked.returncode == 0 and f"{old_key}\t0 values" in checked.stdout


def test_a_rotation_waits_for_every_instance_running_and_refuses_without_it(database, key_file, tmp_path):
    with ServiceProcess(database_url=database, secrets_keys=key_file) as service:
        with httpx.Client(base_url=service.url + API) as client:
            app = client.post("/applications", json={"name": f"app-{uuid.uuid4().hex[:8]}"}).json()
            body = {"application_id": app["id"], "name": "db", "config": {"pw": "x"}, "secrets": ["/pw"]}
            assert client.post("/configurations", json=body).status_code == 201
        before = _counts(database).by_key
        # An instance elsewhere, alive a moment ago, whose key file has not been given the new key.
        conn = psycopg2.connect(database)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO secret_key_holders VALUES ('01M8ZZZZZZZZZZZZZZZZZZZZZZ', 'db-host-2', 4242, "
                "ARRAY['an-old-key'], 'an-old-key', clock_timestamp())"
            )
        conn.close()

        refused = secrets_cli(database, key_file, "rotate", "--wait", "1", cwd=tmp_path)

        assert refused.returncode == 1
        assert "01M8ZZZZZZZZZZZZZZZZZZZZZZ on db-host-2 (pid 4242)" in refused.stderr
        assert "nothing was sealed again" in refused.stderr
        assert _counts(database).by_key == before  # the running instance loaded the key; nothing resealed


def _counts(database: str):
    conn = psycopg2.connect(database, cursor_factory=RealDictCursor)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            return count_sealed(cur)
    finally:
        conn.close()


def _holders(database: str) -> int:
    conn = psycopg2.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM secret_key_holders")
            return cur.fetchone()[0]
    finally:
        conn.close()
