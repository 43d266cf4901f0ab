"""`pipenv run bench`: measures the service as production runs it and records the figures.

1. Starts `python -m api` (the README's `serve`: embedded PostgreSQL 16, durable settings) on a
   new cluster, and seeds 1,000 applications x 10 configurations (20 keys each) through the API.
2. Reads every application and configuration once, as clients do when they start.
3. Drives each load with wrk (32 connections, 10 s, after a 2 s warm-up): (a) GET an application,
   (b) GET a configuration, both over random ids, (c) POST a configuration, (d) GET a list page;
   and the ceiling: a trivial FastAPI route served with the same uvicorn settings.
4. Times one list page, after a random id, at 1k, 10k and 100k applications (seeded in SQL).
5. Prints the table and writes it into the README's performance section.
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg2
from psycopg2.extras import execute_values

from bench.wrk import CREATE_CONFIGURATION, RANDOM_GET, WrkResult, ensure_wrk, lua_script, run_wrk
from infra.ids import new_id
from infra.postgres import embedded_url, free_port
from infra.service_process import ServiceProcess
from infra.settings import PROJECT_ROOT

APPLICATIONS, CONFIGURATIONS_EACH, KEYS_EACH = 1000, 10, 20
LIST_SIZES = (1_000, 10_000, 100_000)
PAGE_SAMPLES = 500
README = PROJECT_ROOT / "README.md"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"


def config_document(n: int) -> dict:
    doc = {}
    for k in range(KEYS_EACH):
        kind = k % 4
        doc[f"key_{k:02d}"] = (
            f"value-{n}-{k}" if kind == 0 else n * 100 + k if kind == 1 else k % 2 == 0 if kind == 2 else k / 7
        )
    return doc


async def seed(base: str) -> tuple[list[str], list[str]]:
    """1,000 applications x 10 configurations, through the API, 32 requests at a time."""
    run = new_id()[-6:]
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def post(path: str, body: dict) -> str:
            async with gate:
                response = await client.post(path, json=body)
                response.raise_for_status()
                return response.json()["id"]

        apps = await asyncio.gather(
            *(post("/api/v1/applications", {"name": f"bench-{run}-{i}"}) for i in range(APPLICATIONS))
        )
        configs = await asyncio.gather(
            *(
                post(
                    "/api/v1/configurations",
                    {"application_id": app, "name": f"config-{c}", "config": config_document(i * 10 + c)},
                )
                for i, app in enumerate(apps)
                for c in range(CONFIGURATIONS_EACH)
            )
        )
    return list(apps), list(configs)


async def read_each(base: str, paths: list[str]) -> None:
    """Reads every path once, 32 at a time: clients at their start, filling the read model."""
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def get(path: str) -> None:
            async with gate:
                (await client.get(path)).raise_for_status()

        await asyncio.gather(*(get(path) for path in paths))


def add_applications(dsn: str, count: int) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            rows = [(new_id(), f"listed-{new_id()}", None) for _ in range(count)]
            execute_values(cur, "INSERT INTO applications (id, name, comments) VALUES %s", rows, page_size=5000)
        with conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("ANALYZE applications")
    finally:
        conn.close()


def random_ids(dsn: str, count: int) -> list[str]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM applications ORDER BY random() LIMIT %s", (count,))
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def page_latency_ms(base: str, afters: list[str]) -> float:
    """Median latency of list pages after distinct ids: each one is read from the database."""
    timings = []
    with httpx.Client(base_url=base) as client:
        for after in afters:
            started = time.perf_counter()
            client.get("/api/v1/applications", params={"limit": 100, "after": after}).raise_for_status()
            timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def start_ceiling() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling", str(port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/ping", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the ceiling app did not start")


def measure(url: str, seconds: int, script: Path | None = None, warmup: bool = True) -> WrkResult:
    if warmup:
        run_wrk(url, seconds=2, connections=32, script=script)
    return run_wrk(url, seconds=seconds, connections=32, script=script)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load (default 10)")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave README.md alone")
    args = parser.parse_args()
    ensure_wrk()

    work = Path(tempfile.mkdtemp(prefix="config-service-bench-"))
    work.chmod(0o755)  # the embedded server's user must reach its data directory
    pg_port = free_port()
    service = ServiceProcess(pg_data_dir=work / "pgdata", pg_port=pg_port, log_level="WARNING")
    rows: list[tuple[str, WrkResult]] = []
    pages: list[tuple[int, float]] = []
    try:
        service.start()
        service.wait_healthy(timeout=180)
        dsn = embedded_url(work / "pgdata", pg_port)
        print("seeding 1,000 applications x 10 configurations through the API...", flush=True)
        started = time.monotonic()
        app_ids, config_ids = asyncio.run(seed(service.url))
        print(f"  seeded in {time.monotonic() - started:.1f}s", flush=True)
        (work / "apps.txt").write_text("\n".join(app_ids) + "\n")
        (work / "configs.txt").write_text("\n".join(config_ids) + "\n")
        get_app = lua_script(work, "get_app", RANDOM_GET, ids=str(work / "apps.txt"), prefix="/api/v1/applications/")
        get_config = lua_script(
            work, "get_config", RANDOM_GET, ids=str(work / "configs.txt"), prefix="/api/v1/configurations/"
        )
        post_config = lua_script(
            work,
            "post_config",
            CREATE_CONFIGURATION,
            ids=str(work / "apps.txt"),
            run=f"load-{new_id()[-6:]}",
            config=json.dumps(config_document(7), separators=(",", ":")).replace("%", "%%"),
        )

        asyncio.run(
            read_each(
                service.url,
                [f"/api/v1/applications/{id}" for id in app_ids]
                + [f"/api/v1/configurations/{id}" for id in config_ids],
            )
        )

        ceiling, ceiling_url = start_ceiling()
        try:
            print("ceiling...", flush=True)
            rows.append(("ceiling: trivial FastAPI route", measure(f"{ceiling_url}/ping", args.seconds)))
        finally:
            ceiling.terminate()
            ceiling.wait()

        for label, script, url in (
            ("(a) GET /applications/{id}", get_app, service.url),
            ("(b) GET /configurations/{id}", get_config, service.url),
            ("(c) POST /configurations", post_config, service.url),
            ("(d) GET /applications?limit=100", None, f"{service.url}/api/v1/applications?limit=100"),
        ):
            print(f"{label}...", flush=True)
            rows.append((label, measure(url, args.seconds, script, warmup=script is not post_config)))
        rss = rss_mb(service.process.pid)

        for size in LIST_SIZES:
            have = count_applications(dsn)
            if size > have:
                add_applications(dsn, size - have)
            pages.append((size, page_latency_ms(service.url, random_ids(dsn, PAGE_SAMPLES))))
    finally:
        service.close()
        shutil.rmtree(work, ignore_errors=True)

    table = render(rows, pages, rss)
    print()
    print(table)
    if not args.no_readme:
        write_readme(table)
        print(f"\nwritten to {README}")
    return 0


def count_applications(dsn: str) -> int:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM applications")
            return cur.fetchone()[0]
    finally:
        conn.close()


def render(rows: list[tuple[str, WrkResult]], pages: list[tuple[int, float]], rss: float) -> str:
    ceiling = rows[0][1].requests_per_second
    machine = (
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    lines = [
        f"Measured {datetime.date.today().isoformat()} on this machine ({machine}); "
        "wrk, 32 connections, 2 threads, one run.",
        "",
        "| load | requests/s | p50 ms | p99 ms | non-2xx | x ceiling |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        ratio = r.requests_per_second / ceiling
        lines.append(
            f"| {label} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.non_2xx + r.socket_errors} | {ratio:.2f} |"
        )
    lines += [
        "",
        f"One list page (`limit=100`) after a random id, read from the database (median of {PAGE_SAMPLES}):",
        "",
        "| applications | p50 ms |",
        "|---:|---:|",
        *(f"| {size:,} | {p50:.2f} |" for size, p50 in pages),
        "",
        f"Service RSS after the loads: {rss:.0f} MB.",
    ]
    by_label = dict(rows)
    checks = [
        *(
            (
                f"{key} >= 0.75 x ceiling, p99 < 25 ms, no errors",
                by_label[key].requests_per_second >= 0.75 * ceiling
                and by_label[key].p99_ms < 25
                and by_label[key].non_2xx + by_label[key].socket_errors == 0,
            )
            for key in ("(a) GET /applications/{id}", "(b) GET /configurations/{id}")
        ),
        (
            "(c) >= 1,500 writes/s, no errors",
            by_label["(c) POST /configurations"].requests_per_second >= 1500
            and by_label["(c) POST /configurations"].non_2xx + by_label["(c) POST /configurations"].socket_errors == 0,
        ),
        ("(d) page at 100k within 1.5 x page at 1k", pages[-1][1] <= 1.5 * pages[0][1]),
        ("RSS < 200 MB", rss < 200),
    ]
    lines += ["", "Targets:", "", *(f"- {'met' if ok else 'MISSED'}: {name}" for name, ok in checks)]
    return "\n".join(lines)


def write_readme(table: str) -> None:
    text = README.read_text()
    block = f"{MARK_START}\n{table}\n{MARK_END}"
    if MARK_START in text:
        text = re.sub(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), lambda _: block, text, flags=re.S)
    else:
        text += f"\n{block}\n"
    README.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
