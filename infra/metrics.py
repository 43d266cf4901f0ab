"""The service's metrics, served by GET /metrics in Prometheus' text format (prometheus-client).

Counting costs the hot path a few operations: a request adds one to a histogram bucket and
its time to a sum, in a list kept in a dict by route, method and status, in plain memory
(`requests.record`). Every second, and
before each scrape, what was counted is added to prometheus-client's metrics and the gauges
are sampled (`flush`), so a scrape may miss the last second of another worker's counts.

With several workers (infra/workers.py) prometheus-client runs in multiprocess mode: the
parent makes PROMETHEUS_MULTIPROC_DIR before it starts them, each worker writes its own files
there, and a scrape through any worker reads all of them (`render`). Gauges of one
worker's own state (its read model, its listener) carry its pid; counts and queue depths are
summed over the workers.

Nothing here imports the rest of the service: the app registers what to sample (`sampler`).
"""

import bisect
import contextlib
import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
CONTENT_TYPE = CONTENT_TYPE_LATEST
INF = float("inf")

# Latency: reads from memory take well under a millisecond; held watches up to a minute.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

REQUESTS = Counter(
    "config_service_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "config_service_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
HELD_WATCHES = Gauge("config_service_held_watches", "Watches (?wait=) held for a change", multiprocess_mode="livesum")
FEED_WAITS = Gauge(
    "config_service_feed_waits", "Change feed reads (?wait=) held for a change", multiprocess_mode="livesum"
)
VIEWS = Gauge("config_service_read_model_views", "Views the read model holds", multiprocess_mode="liveall")
VIEW_BYTES = Gauge(
    "config_service_read_model_bytes",
    "Bytes of the views the read model holds (READ_CACHE_MAX_BYTES bounds them)",
    multiprocess_mode="liveall",
)
STATE = Gauge(
    "config_service_read_model_state",
    "1 for the read model's state: live (following every change), stale (not following), loading",
    ["state"],
    multiprocess_mode="liveall",
)
APPLIED = Gauge(
    "config_service_read_model_revision",
    "The latest announced revision the read model applied",
    multiprocess_mode="liveall",
)
DATABASE_REVISION = Gauge(
    "config_service_database_revision",
    "The database's latest committed revision, as last checked",
    multiprocess_mode="max",
)
LAG = Gauge(
    "config_service_listener_lag_revisions",
    "Revisions the database had committed, as last checked, that the read model had not applied",
    multiprocess_mode="liveall",
)
DATABASE_UP = Gauge(
    "config_service_database_up",
    "1 when the last check of the primary (every second) succeeded",
    multiprocess_mode="liveall",
)
QUEUE_DEPTH = Gauge(
    "config_service_db_queue_depth",
    "Requests waiting for a database worker, by lane",
    ["lane"],
    multiprocess_mode="livesum",
)
QUEUE_WAIT = Histogram(
    "config_service_db_queue_wait_seconds",
    "Time a request waited for a database worker, by lane",
    ["lane"],
    buckets=WAIT_BUCKETS,
)
BATCH_SIZE = Histogram(
    "config_service_write_batch_size", "Commands committed together in one transaction", buckets=BATCH_BUCKETS
)
# Read replicas (infra/replicas.py). Each worker checks each replica: the worst it sees counts.
REPLICA_LAG_SECONDS = Gauge(
    "config_service_replica_lag_seconds",
    "Seconds since the replica last showed the primary's latest revision (0 while it does), as last checked",
    ["replica"],
    multiprocess_mode="livemax",
)
REPLICA_LAG_REVISIONS = Gauge(
    "config_service_replica_lag_revisions",
    "Revisions the primary had committed, as last checked, that the replica did not show yet",
    ["replica"],
    multiprocess_mode="livemax",
)
REPLICA_IN_USE = Gauge(
    "config_service_replica_in_use",
    "1 while the replica serves reads (it answers and lags by at most REPLICA_MAX_LAG_S); 0 while it is skipped",
    ["replica"],
    multiprocess_mode="livemin",
)
DATABASE_READS = Counter(
    "config_service_database_reads",
    "Reads a replica may serve, by the database that served them (primary, replica) and kind: snapshot (the bulk "
    "load), gap (the resync after a gap), history, feed, list",
    ["database", "kind"],
)
AUTH_REFUSED = Counter(
    "config_service_auth_refused",
    "Requests refused by access control, by reason: missing, unknown (or revoked), expired, blocked (429), scope, "
    "limited",
    ["reason"],
)


def read_served(kind: str, database: str) -> None:
    """A read of `kind` was served by `database` ("primary" or "replica"). Any thread may call it
    (prometheus-client's counters take a lock): these reads cost a database round trip anyway."""
    DATABASE_READS.labels(database, kind).inc()


class Tally:
    """Observations of a histogram counted in plain memory, added to it at `flush`."""

    def __init__(self, metric: Histogram, bounds: Iterable[float]) -> None:
        self.metric = metric
        self.bounds = (*bounds, INF)
        self.pending: dict[tuple, list] = {}  # labels -> [count per bucket..., sum]

    def observe(self, labels: tuple, value: float) -> None:
        counts = self.pending.get(labels)
        if counts is None:
            counts = self.pending[labels] = [0] * (len(self.bounds) + 1)
        counts[bisect.bisect_left(self.bounds, value)] += 1
        counts[-1] += value

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for labels, counts in pending.items():
            _add(self.metric.labels(*labels) if labels else self.metric, counts)


def _add(histogram: Histogram, counts: list) -> None:
    """As `observe` does, n times over: each bucket holds its own count, the sum the total.
    (prometheus-client's `_buckets` and `_sum`: pinned in the Pipfile; tests/api read them back.)"""
    for bucket, count in zip(histogram._buckets, counts, strict=False):
        if count:
            bucket.inc(count)
    histogram._sum.inc(counts[-1])


class Requests:
    """Requests answered, per (route, method, status): how many, and how long each took (one
    dict entry each, so a request costs one lookup, one bisection and two additions)."""

    def __init__(self) -> None:
        self.bounds = (*LATENCY_BUCKETS, INF)
        self.pending: dict[tuple[str, str, int], list] = {}  # key -> [count per bucket..., sum]

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counts = self.pending.get(key)
        if counts is None:
            counts = self.pending[key] = [0] * (len(self.bounds) + 1)
        counts[bisect.bisect_left(self.bounds, seconds)] += 1
        counts[-1] += seconds

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for (route, method, status), counts in pending.items():
            REQUESTS.labels(route, method, str(status)).inc(sum(counts[:-1]))
            _add(LATENCY.labels(route, method), counts)


requests = Requests()
queue_waits = Tally(QUEUE_WAIT, WAIT_BUCKETS)
batch_sizes = Tally(BATCH_SIZE, BATCH_BUCKETS)
_samplers: list[Callable[[], None]] = []


def sampler(sample: Callable[[], None]) -> Callable[[], None]:
    """Call `sample` (which sets gauges) at every flush; returns what stops that."""
    _samplers.append(sample)
    return lambda: _samplers.remove(sample) if sample in _samplers else None


def flush() -> None:
    for sample in list(_samplers):
        sample()
    requests.flush()
    queue_waits.flush()
    batch_sizes.flush()


def render() -> bytes:
    """Every worker's metrics as last flushed, in the text format (reads the workers' files:
    run it off the event loop)."""
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def forget_process(pid: int) -> None:
    """A worker ended: its live gauges no longer count (the parent calls this; it set the
    variable after importing this module, for its workers)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid)
