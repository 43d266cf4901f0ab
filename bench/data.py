"""What the benchmark measures against: data made through the API as clients make it, and
bulk data made in SQL (through the same triggers, so every row has its history and feed)."""

import asyncio
import json
import statistics
import time

import httpx
import psycopg2
from psycopg2.extras import execute_values

from infra.ids import new_id

KEYS_EACH = 20


def config_document(n: int) -> dict:
    """20 keys: strings, integers, booleans and floats."""
    doc = {}
    for k in range(KEYS_EACH):
        kind = k % 4
        doc[f"key_{k:02d}"] = (
            f"value-{n}-{k}" if kind == 0 else n * 100 + k if kind == 1 else k % 2 == 0 if kind == 2 else k / 7
        )
    return doc


async def seed(base: str, applications: int, each: int, headers: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Applications x configurations through the API, 32 requests at a time."""
    run = new_id()[-6:]
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:

        async def post(path: str, body: dict) -> dict:
            async with gate:
                response = await client.post(path, json=body)
                response.raise_for_status()
                return response.json()

        apps = await asyncio.gather(
            *(post("/api/v1/applications", {"name": f"bench-{run}-{i}"}) for i in range(applications))
        )
        configs = await asyncio.gather(
            *(
                post(
                    "/api/v1/configurations",
                    {"application_id": app["id"], "name": f"config-{c}", "config": config_document(i * each + c)},
                )
                for i, app in enumerate(apps)
                for c in range(each)
            )
        )
    return list(apps), list(configs)


def sql(dsn: str, statement: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def bulk_configurations(dsn: str, applications: int, each: int) -> float:
    """applications x each configurations (20 keys), inserted in SQL; the seconds it took."""
    started = time.monotonic()
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            apps = [(new_id(), f"bulk-{new_id()}") for _ in range(applications)]
            execute_values(cur, "INSERT INTO applications (id, name) VALUES %s", apps, page_size=5000)
            rows = (
                (new_id(), app_id, f"config-{c}", json.dumps(config_document(i * each + c)))
                for i, (app_id, _) in enumerate(apps)
                for c in range(each)
            )
            execute_values(
                cur,
                "INSERT INTO configurations (id, application_id, name, config) VALUES %s",
                rows,
                template="(%s, %s, %s, %s::jsonb)",
                page_size=5000,
            )
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()
    return time.monotonic() - started


def add_applications(dsn: str, count: int) -> None:
    rows = [(new_id(), f"listed-{new_id()}") for _ in range(count)]
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            execute_values(cur, "INSERT INTO applications (id, name) VALUES %s", rows, page_size=5000)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE applications")
    finally:
        conn.close()


def versions(dsn: str, configuration_id: str, count: int) -> None:
    """`count` more versions of a configuration, one change each (each recorded as usual)."""
    sql(
        dsn,
        """DO $$ BEGIN
             FOR i IN 1 .. %s LOOP
               UPDATE configurations SET config = jsonb_set(config, '{n}', to_jsonb(i)) WHERE id = %s;
             END LOOP;
           END $$""",
        (count, configuration_id),
    )


def median_ms(base: str, paths: list[str], headers: dict | None = None) -> float:
    """Median latency of GETs of these paths, one after another."""
    timings = []
    with httpx.Client(base_url=base, headers=headers) as client:
        for path in paths:
            started = time.perf_counter()
            client.get(path).raise_for_status()
            timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000
