"""`pipenv run bench`: measures the service as production runs it and records the figures.

One run, one machine, every figure next to the ceiling measured in the same run:

1. A PostgreSQL 16 (durable, as production) and the service (`python -m api`) on it; 1,000
   applications x 10 configurations (20 keys each) made through the API.
2. The ceiling: a trivial FastAPI route served with the same uvicorn settings.
3. Warm start: the service restarted; reads over 10,000 random configurations, by id and by
   name, during the first 8 seconds after /health first says ok.
4. Steady loads (wrk, 32 connections): (a) GET an application, (b) GET a configuration,
   (e) GET a configuration by name, (c) POST a configuration, (d) GET a list page; (w) (e)
   with WORKERS=1 and 2, each next to the ceiling served by as many (bench/workers.py, alone:
   `--only workers`); then (b) and (e) again with AUTH=tokens.
5. Writes with reads: 16 writing connections alone, then with 32 reading ones.
6. Held requests: 1,000 feed waits on each of two instances and 1,000 watches of one
   configuration, each answered after one change; 10,000 watches held by one instance.
7. What a schema adds to a write: a 10 KB document PUT with and without a 100-property
   schema (bench/validation.py, which also runs alone); what secret values cost: /config
   reads and PUTs of a configuration with two against one without, and a rotation of 10,000
   values (bench/secrets.py, which also runs alone).
8. Cost at depth: a history page at 100 and 10,000 versions, a feed page at 100 and 100,000
   changes, a list page at 1k, 10k and 100k applications; a bulk load of 100,000
   configurations at start; a feed page from memory for a token limited to 1,000
   applications against an unlimited one's (bench/feed_pages.py, in-process).
Prints the table and writes it into docs/performance.md (bench/report.py).
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from bench import feed_pages
from bench.data import add_applications, bulk_configurations, config_document, median_ms, seed, sql, versions
from bench.holders import allow_open_files, hold, percentile
from bench.report import FIGURES, render, write_figures
from bench.secrets import measure as measure_secrets
from bench.service_process import ServiceProcess
from bench.validation import measure as measure_validation
from bench.workers import render_workers, run_alone, workers_line
from bench.wrk import (
    CREATE_CONFIGURATION,
    RANDOM_GET,
    WrkResult,
    ensure_wrk,
    lua_headers,
    lua_script,
    parse,
    run_wrk,
)
from infra.ids import new_id
from infra.keyring import create_key_file
from infra.postgres import LocalPostgres, find_binaries, free_port
from infra.settings import PROJECT_ROOT

APPLICATIONS, CONFIGURATIONS_EACH = 1000, 10
SAMPLES = 200


@dataclass
class Line:
    label: str
    result: WrkResult


class Bench:
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.work = Path(tempfile.mkdtemp(prefix="config-service-bench-"))
        self.postgres = LocalPostgres(self.work / "pg", free_port(), find_binaries(), durable=True)
        self.lines: list[Line] = []
        self.facts: dict[str, object] = {}
        self.service: ServiceProcess | None = None

    # -- processes --------------------------------------------------------------------

    def start(self, **settings) -> ServiceProcess:
        """The service on the bench's database; returns once /health first says ok."""
        service = ServiceProcess(database_url=self.dsn, log_level="INFO", shutdown_grace=2, **settings)
        service.start()
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{service.url}/health", timeout=1).status_code == 200:
                    return service
            except httpx.TransportError:
                pass
            if service.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the service did not start:\n{service.log()[-3000:]}")
            time.sleep(0.01)

    def restart(self, **settings) -> ServiceProcess:
        if self.service is not None:
            self.service.close()
        self.service = self.start(**settings)
        return self.service

    def measure(
        self, label: str, url: str, script: Path | None, connections: int = 32, warmup: bool = True
    ) -> WrkResult:
        print(f"{label}...", flush=True)
        if warmup:
            run_wrk(url, seconds=2, connections=connections, script=script)
        result = run_wrk(url, seconds=self.seconds, connections=connections, script=script)
        self.lines.append(Line(label, result))
        return result

    def measure_quietly(self, url: str, script: Path | None, connections: int = 32) -> WrkResult:
        """As `measure`, without a line in the table (the caller adds the one it keeps)."""
        print(f"  {url}{' ' + script.name if script else ''}...", flush=True)
        run_wrk(url, seconds=2, connections=connections, script=script)
        return run_wrk(url, seconds=self.seconds, connections=connections, script=script)

    def add_line(self, label: str, result: WrkResult) -> None:
        self.lines.append(Line(label, result))

    def paths_file(self, name: str, paths: list[str]) -> Path:
        path = self.work / f"{name}.txt"
        path.write_text("\n".join(paths) + "\n")
        return path

    def script(self, name: str, template: str, lines: Path, headers: dict | None = None, **values: str) -> Path:
        return lua_script(self.work, name, template, lines=str(lines), headers=lua_headers(headers or {}), **values)

    # -- the run ------------------------------------------------------------------------

    def run(self) -> None:
        self.postgres.start()
        self.dsn = self.postgres.create_database("config_service")
        service = self.restart()

        # The feed and history at 100 rows, before anything else is there.
        asyncio.run(seed(service.url, 100, 0))
        small = asyncio.run(seed(service.url, 1, 1))[1][0]
        versions(self.dsn, small["id"], 99)
        service = self.restart()  # the feed's tail is then not in memory: pages come from the database
        self.facts["feed_100"] = median_ms(service.url, ["/api/v1/changes?after=1&limit=100"] * SAMPLES)
        self.facts["history_100"] = median_ms(
            service.url, [f"/api/v1/configurations/{small['id']}/versions?limit=100"] * SAMPLES
        )

        print(
            f"seeding {APPLICATIONS:,} applications x {CONFIGURATIONS_EACH} configurations through the API...",
            flush=True,
        )
        started = time.monotonic()
        apps, configs = asyncio.run(seed(service.url, APPLICATIONS, CONFIGURATIONS_EACH))
        self.facts["seeded_s"] = time.monotonic() - started
        names = {app["id"]: app["name"] for app in apps}
        by_id = self.paths_file("by_id", [f"/api/v1/configurations/{c['id']}" for c in configs])
        by_name = self.paths_file(
            "by_name",
            [
                f"/api/v1/config/{quote(names[c['application_id']], safe='')}/{quote(c['name'], safe='')}"
                for c in configs
            ],
        )
        app_paths = self.paths_file("apps", [f"/api/v1/applications/{a['id']}" for a in apps])
        app_ids = self.paths_file("app_ids", [a["id"] for a in apps])

        self.ceiling()
        self.warm_start(by_id, by_name)
        self.after_writes()
        self.steady(by_id, by_name, app_paths, app_ids)
        workers_line(self, by_name)
        self.with_auth(by_id, by_name)
        self.with_client_ids(configs[100:200], names)  # staged: apart from those watched below
        self.writes_with_reads(by_id, app_ids)
        self.held(configs[0], names[configs[0]["application_id"]], configs[:10], names)
        print("writes with and without a schema...", flush=True)
        self.facts["validation"] = measure_validation(self.restart().url)
        print("secret values...", flush=True)
        key_file = self.work / "secrets.key"
        create_key_file(key_file)
        self.facts["secrets"] = measure_secrets(
            self.restart(secrets_keys=key_file).url, self.dsn, key_file, self.work, self.seconds
        )
        self.at_depth(configs[-1])

    def ceiling(self) -> None:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.ceiling", str(port)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{url}/ping", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            self.measure("ceiling: trivial FastAPI route", f"{url}/ping", None)
        finally:
            process.terminate()
            process.wait()

    def warm_start(self, by_id: Path, by_name: Path) -> None:
        """The first 8 seconds after /health first says ok, straight after a restart."""
        for label, paths in (
            ("(f) GET /configurations/{id}, first 8 s after start", by_id),
            ("(g) GET /config/{app}/{name}, first 8 s after start", by_name),
        ):
            service = self.restart()
            print(f"{label}...", flush=True)
            result = run_wrk(service.url, seconds=8, connections=32, script=self.script("warm", RANDOM_GET, paths))
            self.lines.append(Line(label, result))

    def after_writes(self) -> None:
        """(j) Reads by id during the first 8 seconds after 10,000 configurations were created
        through the API on this instance: each is held from its own write, so no first read
        goes to the database."""
        service = self.restart()
        label = "(j) GET /configurations/{id}, first 8 s after creating 10,000 through the API"
        print(f"{label}...", flush=True)
        started = time.monotonic()
        _, made = asyncio.run(seed(service.url, 100, 100))
        self.facts["created_10k_s"] = time.monotonic() - started
        paths = self.paths_file("fresh", [f"/api/v1/configurations/{c['id']}" for c in made])
        result = run_wrk(service.url, seconds=8, connections=32, script=self.script("fresh", RANDOM_GET, paths))
        self.lines.append(Line(label, result))

    def steady(self, by_id: Path, by_name: Path, app_paths: Path, app_ids: Path) -> None:
        service = self.restart()
        url = service.url
        self.measure("(a) GET /applications/{id}", url, self.script("get_app", RANDOM_GET, app_paths))
        self.measure("(b) GET /configurations/{id}", url, self.script("get_config", RANDOM_GET, by_id))
        self.measure("(e) GET /config/{app}/{name}", url, self.script("by_name", RANDOM_GET, by_name))
        config = self.script("post", CREATE_CONFIGURATION, app_ids, run=f"load-{new_id()[-6:]}", config=_config_json())
        self.measure("(c) POST /configurations", url, config, warmup=False)
        self.measure("(d) GET /applications?limit=100", f"{url}/api/v1/applications?limit=100", None)
        self.facts["rss_after_loads"] = rss_mb(service.process.pid)

    def with_auth(self, by_id: Path, by_name: Path) -> None:
        """(b) and (e) with a bearer token on every request, on the service with AUTH=off
        and then with AUTH=tokens: the same requests (the same work for wrk), so the ratio is
        what checking the token costs the service."""
        made = subprocess.run(
            [sys.executable, "tokens.py", "create", "--name", f"bench-{new_id()[-6:]}", "--scope", "read"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": self.dsn},
            capture_output=True,
            text=True,
            check=True,
        )
        headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
        for mode in ("off", "tokens"):
            service = self.restart(auth=mode)
            for label, paths in (("(b) GET /configurations/{id}", by_id), ("(e) GET /config/{app}/{name}", by_name)):
                script = self.script("auth", RANDOM_GET, paths, headers)
                self.measure(f"{label}, with a token, AUTH={mode}", service.url, script)

    def with_client_ids(self, configs: list[dict], names: dict) -> None:
        """(k) Reads by name of 100 staged configurations in the middle of a rollout, with and
        without X-Client-Id: what choosing each client's version and noting it costs."""
        service = self.restart()
        with httpx.Client(base_url=service.url, timeout=30) as client:
            for config in configs:
                url = f"/api/v1/configurations/{config['id']}"
                merge_patch = {"Content-Type": "application/merge-patch+json"}
                client.patch(url, json={"release": "staged"}, headers=merge_patch).raise_for_status()
                changed = client.patch(url, json={"config": {"rolled": True}}, headers=merge_patch).json()
                rollout = {"version": changed["version"], "steps": [50, 100], "step_seconds": 86_400}
                client.post(f"{url}/rollouts", json=rollout).raise_for_status()
        paths = self.paths_file(
            "staged",
            [
                f"/api/v1/config/{quote(names[c['application_id']], safe='')}/{quote(c['name'], safe='')}"
                for c in configs
            ],
        )
        for label, headers in (("without", {}), ("with", {"X-Client-Id": "bench-host-1/checkout"})):
            script = self.script(f"staged_{label}", RANDOM_GET, paths, headers)
            self.measure(
                f"(k) GET /config/{{app}}/{{name}}, staged in a rollout, {label} X-Client-Id", service.url, script
            )

    def writes_with_reads(self, by_id: Path, app_ids: Path) -> None:
        service = self.restart()
        url = service.url
        # Each run its own names, so that every POST makes a configuration (never a 409).
        writes = [
            self.script(
                f"post{n}", CREATE_CONFIGURATION, app_ids, run=f"mixed{n}-{new_id()[-6:]}", config=_config_json()
            )
            for n in range(2)
        ]
        read = self.script("mixed_get", RANDOM_GET, by_id)
        print("(h) writes alone, 16 connections...", flush=True)
        alone = run_wrk(url, seconds=self.seconds, connections=16, threads=1, script=writes[0])
        print("(h) writes with 32 reading connections...", flush=True)
        argv_reads = ["wrk", "-t1", "-c32", f"-d{self.seconds}s", "--latency", "--timeout", "5s", "-s", str(read), url]
        readers = subprocess.Popen(argv_reads, stdout=subprocess.PIPE, text=True)
        mixed = run_wrk(url, seconds=self.seconds, connections=16, threads=1, script=writes[1])
        reads = parse(readers.communicate()[0])
        self.lines += [
            Line("(h) POST /configurations, 16 connections alone", alone),
            Line("(h) POST /configurations, 16 connections, with (i)", mixed),
            Line("(i) GET /configurations/{id}, 32 connections, with (h)", reads),
        ]
        self.facts["mixed_ratio"] = mixed.requests_per_second / alone.requests_per_second

    def held(self, config: dict, app_name: str, watched: list[dict], names: dict) -> None:
        """1,000 feed waits on each of two instances, 1,000 watches of one configuration, and
        10,000 watches held by one instance."""
        one = self.restart()
        two = self.start()
        try:
            latest = _latest_revision(one.url)
            url = f"/api/v1/config/{quote(app_name, safe='')}/{quote(config['name'], safe='')}"
            tag = httpx.get(f"{one.url}{url}").headers["etag"]

            async def feed_waits() -> dict:
                waits_one = await hold(one.url, [f"/api/v1/changes?after={latest}&wait=60"] * 1000, {})
                waits_two = await hold(two.url, [f"/api/v1/changes?after={latest}&wait=60"] * 1000, {})
                await asyncio.sleep(2)
                async with httpx.AsyncClient() as client:
                    await client.post(f"{one.url}/api/v1/applications", json={"name": f"wake-{new_id()}"})
                written = time.monotonic()
                await asyncio.gather(*(h.task for h in waits_one + waits_two))
                return {"one": _wakes(waits_one, written, 200), "two": _wakes(waits_two, written, 200)}

            async def watches(instance: ServiceProcess, count: int, targets: list[tuple[str, str, dict]]) -> dict:
                base_rss = rss_mb(instance.process.pid)
                held_by_target = []
                for path, etag, _ in targets:
                    held_by_target.append(
                        await hold(instance.url, [f"{path}?wait=60"] * (count // len(targets)), {"If-None-Match": etag})
                    )
                await asyncio.sleep(3)
                held_rss = rss_mb(instance.process.pid)
                written = []
                async with httpx.AsyncClient() as client:
                    for _, _, target in targets:
                        changed = await client.put(
                            f"{instance.url}/api/v1/configurations/{target['id']}",
                            json={"name": target["name"], "config": {"changed": new_id()}},
                        )
                        changed.raise_for_status()
                        written.append(time.monotonic())
                everyone = [h for group in held_by_target for h in group]
                await asyncio.gather(*(h.task for h in everyone))
                for group, at in zip(held_by_target, written, strict=True):
                    for h in group:
                        h.written_at = at
                return {"wakes": _wakes(everyone, None, 200), "rss_growth": held_rss - base_rss}

            print("held requests: 1,000 feed waits on each of two instances...", flush=True)
            self.facts["feed_waits"] = asyncio.run(feed_waits())
            print("held requests: 1,000 watches of one configuration...", flush=True)
            self.facts["watch_1000"] = asyncio.run(watches(one, 1000, [(url, tag, config)]))
            print("held requests: 10,000 watches on one instance...", flush=True)
            targets = []
            for target in watched:
                path = (
                    f"/api/v1/config/{quote(names[target['application_id']], safe='')}/{quote(target['name'], safe='')}"
                )
                targets.append((path, httpx.get(f"{one.url}{path}").headers["etag"], target))
            self.facts["watch_10000"] = asyncio.run(watches(one, 10_000, targets))
        finally:
            two.close()

    def at_depth(self, config: dict) -> None:
        print("cost at depth: 10,000 versions, 100,000 configurations, 100k applications...", flush=True)
        versions(self.dsn, config["id"], 10_000 - 1)
        self.facts["bulk_insert_s"] = bulk_configurations(self.dsn, 1000, 100)
        service = self.restart(read_cache_max_bytes=1 << 30)
        loaded = re.search(r"read model: (\d+) names and (\d+) views \(([\d.]+) MB.*read in ([\d.]+)s", service.log())
        self.facts["bulk_load"] = {
            "names": int(loaded.group(1)),
            "views": int(loaded.group(2)),
            "mb": float(loaded.group(3)),
            "seconds": float(loaded.group(4)),
            "rss": rss_mb(service.process.pid),
        }
        self.facts["changes_total"] = sql(self.dsn, "SELECT count(*) FROM changes")[0][0]
        self.facts["feed_100k"] = median_ms(service.url, ["/api/v1/changes?after=1&limit=100"] * SAMPLES)
        self.facts["history_10k"] = median_ms(
            service.url, [f"/api/v1/configurations/{config['id']}/versions?limit=100"] * SAMPLES
        )
        pages = []
        for size in (1_000, 10_000, 100_000):
            have = sql(self.dsn, "SELECT count(*) FROM applications")[0][0]
            if size > have:
                add_applications(self.dsn, size - have)
            afters = [
                row[0] for row in sql(self.dsn, "SELECT id FROM applications ORDER BY random() LIMIT %s", (SAMPLES,))
            ]
            pages.append((size, median_ms(service.url, [f"/api/v1/applications?limit=100&after={a}" for a in afters])))
        self.facts["list_pages"] = pages
        self.facts["feed_limited"] = feed_pages.measure()

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
        self.postgres.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def _config_json() -> str:
    return json.dumps(config_document(7), separators=(",", ":")).replace("%", "%%")


def _latest_revision(base: str) -> int:
    after = 0
    while page := httpx.get(f"{base}/api/v1/changes", params={"after": after, "limit": 1000}).json():
        after = page[-1]["revision"]
    return after


def _wakes(held: list, written: float | None, status: int) -> dict:
    """How many were answered with `status`, and how long after the change that woke them
    (`written`, or each one's own `written_at`)."""
    answered = [h for h in held if h.status == status]
    delays = [h.answered_at - (written if written is not None else h.written_at) for h in answered]
    return {
        "count": len(held),
        "answered": len(answered),
        "errors": len(held) - len(answered),
        "p50": percentile(delays, 50) if delays else None,
        "p99": percentile(delays, 99) if delays else None,
        "max": max(delays) if delays else None,
    }


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each steady load (default 10)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--only", choices=["workers"], help="one line alone, printed (bench/workers.py)")
    args = parser.parse_args()
    ensure_wrk()
    allow_open_files(15_000)
    bench = Bench(args.seconds)
    if args.only == "workers":
        try:
            run_alone(bench)
        finally:
            bench.close()
        lines, checks = render_workers(bench.facts["workers"])
        print("\n".join(["", *lines, "", *(f"- {'met' if ok else 'MISSED'}: {name}" for name, ok in checks)]))
        return 0
    try:
        bench.run()
    finally:
        bench.close()
    table = render(bench)
    print()
    print(table)
    if not args.no_write:
        write_figures(table)
        print(f"\nwritten to {FIGURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
