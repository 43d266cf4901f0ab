"""A flood of /health cannot starve the service: thousands of connections asking /health on
each of two instances (or of one service's two workers), while authenticated reads run and a
token is revoked. /health stays 200, the reads are served, both instances (workers) refuse the
revoked token within a second, and the logs stay quiet.

The instances may let only 200 requests wait for a database worker (DB_QUEUE_MAX): were
/health a database round trip, this flood would overflow that queue (503 `overloaded`), and
so would a token reload made through it. All on loopback; it stops by itself.
"""

import asyncio
import time
import uuid

import httpx
import uvloop

from bench.holders import allow_open_files
from bench.service_process import ServiceProcess
from commands.tokens import CreateToken
from migrations import migrate
from tests.reliability.load import Connection, drive, statuses
from tests.support import TWO_INSTANCES_OR_TWO_WORKERS, database, perform, worker_of

HEALTH_CONNECTIONS = 1500  # per instance
READERS = 8  # per instance
REVOKE_AT = 3  # seconds into the flood
# The flood goes on until each instance was asked with the revoked token this many times from
# a second after its revocation on (however slow the machine makes each answer), or this long.
LATE_PROBES, MOST_SECONDS = 3, 60


@TWO_INSTANCES_OR_TWO_WORKERS
def test_a_health_flood_on_two_instances_leaves_health_reads_and_revocation_working(new_database, topology):
    dsn = new_database()
    migrate(dsn)
    db = database(dsn)
    try:
        # Tokens made before the instances start (they read them at once).
        admin = perform(db, CreateToken(f"admin-{uuid.uuid4().hex[:8]}", "admin"))["secret"]
        reader = perform(db, CreateToken(f"reader-{uuid.uuid4().hex[:8]}", "read"))["secret"]
        doomed = perform(db, CreateToken(f"doomed-{uuid.uuid4().hex[:8]}", "read"))
    finally:
        db.close()
    allow_open_files(2 * HEALTH_CONNECTIONS + 512)
    with topology(dsn, auth="tokens", db_queue_max=200, shutdown_grace=1) as (one, two):
        admin_headers = {"Authorization": f"Bearer {admin}"}
        app = httpx.post(
            f"{one.url}/api/v1/applications", json={"name": f"flood-{uuid.uuid4().hex}"}, headers=admin_headers
        ).json()
        body = {"application_id": app["id"], "name": "c", "config": {"v": 1}}
        assert httpx.post(f"{one.url}/api/v1/configurations", json=body, headers=admin_headers).status_code == 201
        read_path = f"/api/v1/config/{app['name']}/c"
        for instance in (one, two):
            deadline = time.monotonic() + 5
            while (
                httpx.get(f"{instance.url}{read_path}", headers={"Authorization": f"Bearer {reader}"}).status_code
                != 200
            ):
                assert time.monotonic() < deadline, "the configuration never reached the second instance"
                time.sleep(0.05)

        outcome = uvloop.run(flood(one, two, read_path, reader, admin, doomed))

        logs = {"one": one.log(), "two": two.log()}
        for name, (health, reads) in outcome["instances"].items():
            print(f"\n{name}: /health {statuses(health)}, reads {statuses(reads)}")
            print("\n".join([line for line in logs[name].splitlines() if " WARNING " in line][:20]))
            assert statuses(health) == {200: len(health)}, (name, statuses(health), [o.error for o in health][:5])
            assert len(health) > HEALTH_CONNECTIONS, (name, len(health))  # each connection was answered, again
            assert statuses(reads) == {200: len(reads)} and len(reads) > READERS, (name, statuses(reads))
        revoked_at = outcome["revoked_at"]
        refusing = set()  # the processes (instances or workers) that refused it late
        for name, probes in outcome["probes"].items():
            late = [(round(sent - revoked_at, 2), status) for sent, status, _ in probes if sent >= revoked_at + 1]
            print(f"{name}: the revoked token, asked 1 s or more after its revocation: {late}")
            assert late and all(status == 401 for _, status in late), (name, late)
            assert any(status == 200 for sent, status, _ in probes if sent < revoked_at), (name, probes)
            refusing |= {worker for sent, _, worker in probes if sent >= revoked_at + 1}
        assert len(refusing) == 2, refusing  # each of the two was asked, not one twice
    for name, log in logs.items():  # no 503 to log, no database check that failed
        assert " 503 " not in log and "unavailable" not in log, (name, log[-2000:])


async def flood(
    one: ServiceProcess, two: ServiceProcess, read_path: str, reader: str, admin: str, doomed: dict
) -> dict:
    readers = {"Authorization": f"Bearer {reader}"}

    async def health(connection: Connection, rng):
        return await connection.request("GET", "/health")

    async def read(connection: Connection, rng):
        return await connection.request("GET", read_path, headers=readers)

    started = time.monotonic()
    enough = asyncio.Event()
    work = {
        name: (
            asyncio.ensure_future(drive(instance.url, HEALTH_CONNECTIONS, MOST_SECONDS, health, 30, enough)),
            asyncio.ensure_future(drive(instance.url, READERS, MOST_SECONDS, read, 30, enough)),
        )
        for name, instance in (("one", one), ("two", two))
    }
    # Each instance (worker) asked with the doomed token, over and over, on a connection of its own.
    probes: dict[str, list[tuple[float, int, str]]] = {"one": [], "two": []}
    taken: set[str] = set()
    doomed_headers = {"Authorization": f"Bearer {doomed['secret']}"}
    revoked_at = None

    def late(name: str) -> int:
        return 0 if revoked_at is None else sum(sent >= revoked_at + 1 for sent, _, _ in probes[name])

    async def probe(name: str, instance: ServiceProcess) -> None:
        connection = await own_process(instance.url, taken)
        try:
            while late(name) < LATE_PROBES and time.monotonic() < started + MOST_SECONDS:
                sent = time.monotonic()
                try:
                    response = await connection.request("GET", "/api/v1/tokens/current", headers=doomed_headers)
                except (OSError, asyncio.IncompleteReadError) as exc:  # closed by the server: ask again
                    print(f"{name}: probe {exc!r}")
                    continue
                probes[name].append((sent, response.status, worker_of(response)))
                await asyncio.sleep(0.1)
        finally:
            connection.close()

    probing = [asyncio.ensure_future(probe(name, instance)) for name, instance in (("one", one), ("two", two))]
    await asyncio.sleep(REVOKE_AT)
    revoker = Connection(one.url, 30)
    response = await revoker.request(
        "DELETE", f"/api/v1/tokens/{doomed['id']}", headers={"Authorization": f"Bearer {admin}"}
    )
    revoked_at = time.monotonic()
    revoker.close()
    if response.status != 204:
        enough.set()
    assert response.status == 204, response.body
    await asyncio.gather(*probing)
    enough.set()
    return {
        "instances": {name: (await health_run, await read_run) for name, (health_run, read_run) in work.items()},
        "revoked_at": revoked_at,
        "probes": probes,
    }


async def own_process(url: str, taken: set[str]) -> Connection:
    """A connection answered by a process no other probe's is: with two workers on one port,
    connections are tried until one reaches a worker not taken yet."""
    for _ in range(50):
        connection = Connection(url, 30)
        worker = worker_of(await connection.request("GET", "/health/live"))
        if worker not in taken:
            taken.add(worker)
            return connection
        connection.close()
    raise AssertionError("every connection reached one process")
