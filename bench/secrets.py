"""What secret values cost: GET /config of a configuration with two secret values (shown, as
the client service's own token gets them) against the same one without, with wrk (best of
three rounds each, alternated); a PUT of each, one at a time; showing and masking one in this
process; and a rotation (`secrets rotate`) of every value of many configurations and their
versions.

Alone: `pipenv run python -m bench.secrets` (a throwaway PostgreSQL 16, durable as in
production, and the service as a process); `pipenv run bench` runs it too.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.service_process import ServiceProcess
from bench.wrk import ensure_wrk, run_wrk
from infra.documents import Document, literal, written
from infra.keyring import Keyring, create_key_file
from infra.postgres import LocalPostgres, find_binaries, free_port
from infra.sealing import mask_document, reveal_document, seal_tree
from infra.settings import PROJECT_ROOT

SECRETS = ["/db/password", "/payment/api_key"]
ROUNDS = 3
SAMPLES = 200
ROTATED_CONFIGURATIONS = 1000
VERSIONS_EACH = 5  # each with two secret values: 10,000 values


def document(n: int = 0) -> dict:
    """A 20-key document with a password and an API key among them."""
    body = {f"setting_{k:02d}": f"value {k}" for k in range(16)}
    body["db"] = {"host": "db.internal", "pool": 20, "password": f"pw-{n}-correct-horse-battery"}
    body["payment"] = {"provider": "acme", "api_key": f"sk_live_{n:08d}abcdef0123456789"}
    return body


def reads(base: str, seconds: int) -> dict:
    """GET /config of the two configurations, alternated, best of ROUNDS each."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        app = client.post("/applications", json={"name": f"secrets-bench-{time.time_ns()}"}).json()
        for name, secrets in (("plain", []), ("sealed", SECRETS)):
            body = {"application_id": app["id"], "name": name, "config": document(), "secrets": secrets}
            client.post("/configurations", json=body).raise_for_status()
    best: dict[str, object] = {}
    for _ in range(ROUNDS):
        for name in ("plain", "sealed"):
            url = f"{base}/api/v1/config/{app['name']}/{name}"
            run_wrk(url, seconds=1, connections=32)  # warm up
            result = run_wrk(url, seconds=seconds, connections=32)
            if name not in best or result.requests_per_second > best[name].requests_per_second:
                best[name] = result
    return {
        "plain": best["plain"],
        "sealed": best["sealed"],
        "ratio": best["sealed"].requests_per_second / best["plain"].requests_per_second,
        "app": app,
    }


def writes(base: str, app: dict) -> dict:
    """PUTs of each (a changed secret value each time), interleaved; median ms."""
    timings: dict[str, list[float]] = {"plain": [], "sealed": []}
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        ids = {}
        for name in timings:
            ids[name] = client.get(f"/config/{app['name']}/{name}").json()["id"]
        for n in range(SAMPLES + 20):
            for name, id in ids.items():
                started = time.perf_counter()
                client.put(f"/configurations/{id}", json={"name": name, "config": document(n)}).raise_for_status()
                if n >= 20:
                    timings[name].append(time.perf_counter() - started)
    plain, sealed = (statistics.median(timings[name]) * 1000 for name in ("plain", "sealed"))
    return {"plain_ms": plain, "sealed_ms": sealed}


def in_process(repeat: int = 5000) -> dict:
    """Microseconds to seal, show and mask the document's two secret values in this process."""
    ring = Keyring.of([("bench", os.urandom(32))])
    text = Document.of(document()).text

    def median_us(fn) -> float:
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            timings.append(time.perf_counter() - started)
        return statistics.median(timings) * 1e6

    sealed = written(seal_tree(literal(text), SECRETS, ring, "C"))
    return {
        "seal_us": median_us(lambda: written(seal_tree(literal(text), SECRETS, ring, "C"))),
        "reveal_us": median_us(lambda: reveal_document(sealed, SECRETS, ring, "C")),
        "mask_us": median_us(lambda: mask_document(sealed, SECRETS)),
        "bytes": len(text),
    }


def rotation(base: str, dsn: str, key_file: Path, work: Path) -> dict:
    """`secrets rotate` over ROTATED_CONFIGURATIONS configurations of VERSIONS_EACH versions."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        app = client.post("/applications", json={"name": f"rotation-bench-{time.time_ns()}"}).json()
        for n in range(ROTATED_CONFIGURATIONS):
            body = {"application_id": app["id"], "name": f"c{n}", "config": document(n), "secrets": SECRETS}
            id = client.post("/configurations", json=body).raise_for_status().json()["id"]
            for v in range(1, VERSIONS_EACH):
                client.put(f"/configurations/{id}", json={"name": f"c{n}", "config": document(n * 10 + v)})
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PROJECT_ROOT),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": dsn,
        "SECRETS_KEYS": str(key_file),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "secret_keys.py"), "rotate"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.monotonic() - started
    sealed = re.search(r"every secret value \((\d+)\) is sealed", done.stderr)
    documents = re.search(r"sealed (\d+) documents again", done.stderr)
    return {
        "values": int(sealed.group(1)) if sealed else 0,
        "documents": int(documents.group(1)) if documents else 0,
        "seconds": seconds,
    }


def measure(base: str, dsn: str, key_file: Path, work: Path, seconds: int = 5) -> dict:
    ensure_wrk()
    figures = reads(base, seconds)
    figures.update(writes(base, figures.pop("app")))
    figures.update(in_process())
    figures["rotation"] = rotation(base, dsn, key_file, work)
    return figures


def describe(f: dict) -> str:
    plain, sealed, rotated = f["plain"], f["sealed"], f["rotation"]
    return (
        f"GET /config of a {f['bytes'] / 1000:.1f} KB configuration with two secret values, shown: "
        f"{sealed.requests_per_second:,.0f} requests/s (p99 {sealed.p99_ms:.2f} ms) against "
        f"{plain.requests_per_second:,.0f} (p99 {plain.p99_ms:.2f} ms) for the same without (x {f['ratio']:.2f}); "
        f"a PUT {f['sealed_ms']:.2f} ms against {f['plain_ms']:.2f} ms (made from the current state: one more "
        f"round trip); in this process, sealing both {f['seal_us']:.0f} µs, showing them {f['reveal_us']:.0f} µs, "
        f"masking them {f['mask_us']:.0f} µs (once per change, not per read); `secrets rotate` sealed "
        f"{rotated['values']:,} values in {rotated['documents']:,} documents again in {rotated['seconds']:.1f} s"
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="config-service-secrets-"))
    postgres = LocalPostgres(work / "pg", free_port(), find_binaries(), durable=True)
    postgres.start()
    try:
        dsn = postgres.create_database("config_service")
        key_file = work / "secrets.key"
        create_key_file(key_file)
        with ServiceProcess(database_url=dsn, secrets_keys=key_file, shutdown_grace=1) as service:
            figures = measure(service.url, dsn, key_file, work)
    finally:
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(describe(figures))
    print(f"target (reads within 10% of those without secrets): {'met' if figures['ratio'] >= 0.9 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
