"""The workers line: GET a configuration by name with WORKERS=2 and WORKERS=1, each next to the
trivial FastAPI route (bench/ceiling.py) served by as many workers the same way, in one run;
and the memory of each worker. `pipenv run python -m bench --only workers` runs it alone.

Targets: the two-worker service at >= 1.0x the two-worker ceiling, and its gain from the second
worker (2 workers / 1 worker) at least 0.9 of the trivial route's own gain in the same run.
"""

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.data import seed
from bench.wrk import RANDOM_GET, WrkResult
from infra.postgres import free_port
from infra.settings import PROJECT_ROOT

COUNTS = (1, 2)


def run_alone(bench) -> None:
    """`--only workers`: the bench's database, 200 applications x 10 configurations through the
    API, then the line."""
    bench.postgres.start()
    bench.dsn = bench.postgres.create_database("config_service")
    service = bench.restart()
    apps, configs = asyncio.run(seed(service.url, 200, 10))
    names = {app["id"]: app["name"] for app in apps}
    paths = [
        f"/api/v1/config/{quote(names[c['application_id']], safe='')}/{quote(c['name'], safe='')}" for c in configs
    ]
    workers_line(bench, bench.paths_file("by_name", paths))


def workers_line(bench, by_name: Path, rounds: int = 3) -> dict:
    """Ceiling and service, with 1 then 2 workers, `rounds` times over in that order; the best
    of each (the machine may be shared: the best is the least disturbed). The figures go to
    `bench.facts["workers"]`."""
    script = bench.script("workers_by_name", RANDOM_GET, by_name)
    figures: dict = {"ceiling": {}, "service": {}, "rss": {}}
    for _ in range(rounds):
        for count in COUNTS:
            process, url = start_ceiling(count)
            try:
                _keep_best(figures["ceiling"], count, bench.measure_quietly(url, None))
            finally:
                process.terminate()
                process.wait(30)
            service = bench.restart(workers=count)
            _keep_best(figures["service"], count, bench.measure_quietly(service.url, script))
            parent = service.process.pid
            figures["rss"][count] = (
                [rss_mb(pid) for pid in (*service.worker_pids(), parent)] if count > 1 else [rss_mb(parent)]
            )
    for count in COUNTS:
        bench.add_line(f"ceiling: trivial FastAPI route, {count} worker(s)", figures["ceiling"][count])
        bench.add_line(f"(w) GET /config/{{app}}/{{name}}, WORKERS={count}", figures["service"][count])
    if bench.service is not None:
        bench.service.close()
        bench.service = None
    bench.facts["workers"] = figures
    return figures


def _keep_best(best: dict, count: int, result: WrkResult) -> None:
    if count not in best or result.requests_per_second > best[count].requests_per_second:
        best[count] = result


def start_ceiling(workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling", str(port), str(workers)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/ping"
    for _ in range(200):
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    time.sleep(1 if workers > 1 else 0)  # every worker up, not only the first
    return process, url


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def render_workers(figures: dict) -> tuple[list[str], list[tuple[str, bool]]]:
    """Lines of the report, and the targets with whether each was met."""
    ceiling, service, rss = figures["ceiling"], figures["service"], figures["rss"]

    def rps(r: WrkResult) -> float:
        return r.requests_per_second

    gain_service = rps(service[2]) / rps(service[1])
    gain_ceiling = rps(ceiling[2]) / rps(ceiling[1])
    versus = rps(service[2]) / rps(ceiling[2])
    workers, parent = rss[2][:-1], rss[2][-1]
    lines = [
        "Workers (GET /config/{app}/{name}, random among the seeded configurations; ceiling: the trivial route):",
        "",
        "| workers | ceiling req/s | service req/s | service p99 ms | x ceiling |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {n} | {rps(ceiling[n]):,.0f} | {rps(service[n]):,.0f} | {service[n].p99_ms:.2f} | "
            f"{rps(service[n]) / rps(ceiling[n]):.2f} |"
            for n in COUNTS
        ),
        "",
        f"Gain from the second worker: service {gain_service:.2f}x, trivial route {gain_ceiling:.2f}x "
        f"(ratio {gain_service / gain_ceiling:.2f}). Memory: one process {rss[1][0]:.0f} MB; with 2 workers, "
        f"each worker {', '.join(f'{mb:.0f}' for mb in workers)} MB and the parent {parent:.0f} MB.",
    ]
    checks = [
        (f"two-worker service >= 1.0 x two-worker ceiling (here {versus:.2f})", versus >= 1.0),
        (
            f"gain from the second worker >= 0.9 x the trivial route's (here {gain_service / gain_ceiling:.2f})",
            gain_service >= 0.9 * gain_ceiling,
        ),
        ("no errors", all(r.non_2xx + r.socket_errors == 0 for r in service.values())),
    ]
    return lines, checks
