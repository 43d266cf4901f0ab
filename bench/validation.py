"""What a schema adds to a write: PUTs of a 10 KB document with 100 properties, one after
another, alternately to a configuration without a schema and to one whose 100-property schema
the document satisfies; the median latency of each and their ratio (the target: at most 1.10).
Also the validation alone, in this process (jsonschema-rs, the schema compiled once).

Alone: `pipenv run python -m bench.validation` (a throwaway PostgreSQL 16, durable as in
production, and the service as a process); `pipenv run bench` runs it too.
"""

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.service_process import ServiceProcess
from commands.validation import Compiled
from infra.documents import Document
from infra.postgres import LocalPostgres, find_binaries, free_port

PROPERTIES = 100
SAMPLES = 300


def document_and_schema() -> tuple[dict, dict]:
    """A document of 100 properties (strings, integers, numbers, booleans, small objects and
    lists; about 10 KB) and a schema of 100 properties that it satisfies."""
    document, properties = {}, {}
    for n in range(PROPERTIES):
        key = f"setting_{n:03d}"
        kind = n % 5
        if kind == 0:
            document[key] = f"value {n} " + "x" * 250
            properties[key] = {"type": "string", "minLength": 1, "maxLength": 300}
        elif kind == 1:
            document[key] = n * 10
            properties[key] = {"type": "integer", "minimum": 0, "maximum": 100_000}
        elif kind == 2:
            document[key] = {"enabled": n % 2 == 0, "ratio": n / 100, "url": f"https://svc-{n}.example.com/path"}
            properties[key] = {
                "type": "object",
                "properties": {
                    "enabled": {"type": "boolean"},
                    "ratio": {"type": "number", "minimum": 0, "maximum": 1},
                    "url": {"type": "string", "format": "uri"},
                },
                "required": ["enabled", "ratio"],
                "additionalProperties": False,
            }
        elif kind == 3:
            document[key] = [f"host-{n}-{i}.internal" for i in range(4)]
            properties[key] = {"type": "array", "items": {"type": "string", "format": "hostname"}, "maxItems": 10}
        else:
            document[key] = "fast" if n % 2 else "safe"
            properties[key] = {"enum": ["fast", "safe"]}
    schema = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return document, schema


def validation_alone_us(document: dict, schema: dict, repeat: int = 2000) -> float:
    """Median microseconds to validate the document, the schema compiled once."""
    compiled = Compiled(Document.of(schema))
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        compiled.violations(document)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def measure(base: str, samples: int = SAMPLES) -> dict:
    """PUT latencies without and with a schema, interleaved so that both see the same noise."""
    document, schema = document_and_schema()
    size = len(Document.of(document).text)
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        app = client.post("/applications", json={"name": f"validation-bench-{time.time_ns()}"}).json()
        ids = []
        for name in ("plain", "guarded"):
            body = {"application_id": app["id"], "name": name, "config": document}
            ids.append(client.post("/configurations", json=body).raise_for_status().json()["id"])
        client.put(f"/configurations/{ids[1]}/schema", json=schema).raise_for_status()
        timings: dict[str, list[float]] = {"plain": [], "guarded": []}
        for n in range(samples + 20):
            for name, id in zip(("plain", "guarded"), ids, strict=True):
                started = time.perf_counter()
                client.put(f"/configurations/{id}", json={"name": name, "config": document}).raise_for_status()
                if n >= 20:  # the first ones warm up (and compile the schema)
                    timings[name].append(time.perf_counter() - started)
    plain, guarded = (statistics.median(timings[name]) * 1000 for name in ("plain", "guarded"))
    return {
        "document_bytes": size,
        "plain_ms": plain,
        "guarded_ms": guarded,
        "ratio": guarded / plain,
        "validation_us": validation_alone_us(document, schema),
    }


def describe(figures: dict) -> str:
    return (
        f"PUT of a {figures['document_bytes'] / 1000:.1f} KB document with {PROPERTIES} properties, one at a time "
        f"(median of {SAMPLES}): {figures['plain_ms']:.2f} ms without a schema, {figures['guarded_ms']:.2f} ms "
        f"with a {PROPERTIES}-property schema (x {figures['ratio']:.2f}); validating it alone takes "
        f"{figures['validation_us']:.0f} µs"
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="config-service-validation-"))
    postgres = LocalPostgres(work / "pg", free_port(), find_binaries(), durable=True)
    postgres.start()
    try:
        dsn = postgres.create_database("config_service")
        with ServiceProcess(database_url=dsn, shutdown_grace=1) as service:
            figures = measure(service.url)
    finally:
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(describe(figures))
    print(f"target (at most 1.10 x): {'met' if figures['ratio'] <= 1.10 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
