"""The client host's program (`python -m tests.cluster.driver PLAN`, run inside the client's
network namespace): it waits for the instances, makes the data it needs, then runs until a
line on stdin says stop, and prints what every request got, as JSON lines on stdout.

- writers: configurations created through instance 1 (and instance 2, until it is killed),
  and one configuration, "watched", updated through instance 1;
- a follower of the change feed (`/changes?after=N&wait=30`) and a long-poll watch of
  "watched" (`?wait=30` with If-None-Match), both on instance 3;
- readers by name, of configurations nobody changes meanwhile, on every instance;
- readers of what a read replica may serve, on instances 1 and 3: the history of "watched"
  (newest version first), noting the newest version acknowledged through instance 1 when each
  read began (read-your-writes), and the application's list of configurations.

At the end it scrapes each live instance's metrics: which database served which reads.

Every loop paces itself and ends at "stop" (or after MAX_SECONDS); after it, the follower and
the watch get up to DRAIN_SECONDS to see the last acknowledged change.
"""

import asyncio
import json
import re
import sys
import time
import uuid
from urllib.parse import quote

from tests.reliability.load import Connection

APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
STATIC = 10
MAX_SECONDS = 120.0
DRAIN_SECONDS = 15.0
# Pauses between requests: enough load to matter, little enough to leave the 2 cores to the
# servers (three instances and two PostgreSQL servers share them).
WRITE_PAUSE, UPDATE_PAUSE, READ_PAUSE, AFTER_FAILURE = 0.02, 0.05, 0.01, 0.05
DATABASE_READ_PAUSE = 0.05
# A line of the metrics: reads a replica may serve, by who served them and their kind.
SERVED = re.compile(r'^config_service_database_reads_total\{database="(\w+)",kind="(\w+)"\} ([0-9.e+]+)$', re.M)
TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError)


def emit(**record: object) -> None:
    print(json.dumps(record), flush=True)


class Run:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.stopping = asyncio.Event()
        # instance, kind, started, ended, status, id, version, revision, error or Retry-After
        self.writes: list[list] = []
        self.reads: list[list] = []  # instance, started, ended, status, stale, error
        # instance, kind (history, list), started, ended, status, newest version, acknowledged, error
        self.database_reads: list[list] = []
        self.acknowledged_version = 0  # the newest version of "watched" acknowledged so far
        self.feed: list[list] = []  # revision, received
        self.watch: list[list] = []  # version, received, stale
        self.feed_errors = 0
        self.watch_errors = 0

    async def setup(self) -> None:
        await asyncio.gather(*(wait_healthy(url) for url in self.urls))
        first = Connection(self.urls[0], 10)
        self.app_name = f"fleet/{uuid.uuid4().hex[:8]}"
        app = (await first.request("POST", APPS, {"name": self.app_name})).json()
        self.app_id = app["id"]
        for n in range(STATIC):
            body = {"application_id": self.app_id, "name": f"static-{n}", "config": {"v": n}}
            assert (await first.request("POST", CONFIGS, body)).status == 201
        body = {"application_id": self.app_id, "name": "watched", "config": {"n": 0}}
        watched = (await first.request("POST", CONFIGS, body)).json()
        self.watched_id = watched["id"]
        first.close()
        # Every instance holds them before the load begins (what it serves while the database is away).
        for url in self.urls:
            connection = Connection(url, 10)
            for path in [*self.static_paths, self.watched_path]:
                for _ in range(100):  # the announcement of a new one may still be on its way
                    if (await connection.request("GET", path)).status == 200:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError(f"{url}{path} never answered 200")
            connection.close()

    @property
    def static_paths(self) -> list[str]:
        return [f"/api/v1/config/{quote(self.app_name, safe='')}/static-{n}" for n in range(STATIC)]

    @property
    def watched_path(self) -> str:
        return f"/api/v1/config/{quote(self.app_name, safe='')}/watched"

    async def create(self, instance: int, label: str) -> None:
        connection = Connection(self.urls[instance - 1], 10)
        k = 0
        while not self.stopping.is_set():
            k += 1
            body = {"application_id": self.app_id, "name": f"{label}-{k}", "config": {"k": k}}
            await self._write(connection, instance, "create", "POST", CONFIGS, body, WRITE_PAUSE)
        connection.close()

    async def update(self) -> None:
        connection = Connection(self.urls[0], 10)
        k = 0
        while not self.stopping.is_set():
            k += 1
            body = {"name": "watched", "config": {"n": k}}
            await self._write(connection, 1, "update", "PUT", f"{CONFIGS}/{self.watched_id}", body, UPDATE_PAUSE)
        connection.close()

    async def _write(self, connection, instance, kind, method, path, body, pause) -> None:
        started = time.monotonic()
        try:
            response = await connection.request(method, path, body)
        except TRANSPORT_ERRORS as exc:
            self.writes.append([instance, kind, started, time.monotonic(), None, None, None, None, repr(exc)])
            await asyncio.sleep(AFTER_FAILURE)
            return
        ended = time.monotonic()
        if response.status in (200, 201):
            view = response.json()
            revision = int(response.headers["etag"].strip('"'))  # a configuration's ETag is its revision
            self.writes.append(
                [instance, kind, started, ended, response.status, view["id"], view["version"], revision, None]
            )
            if kind == "update":
                self.acknowledged_version = max(self.acknowledged_version, view["version"])
            await asyncio.sleep(pause)
        else:  # the last field: its Retry-After
            retry_after = response.headers.get("retry-after")
            self.writes.append([instance, kind, started, ended, response.status, None, None, None, retry_after])
            await asyncio.sleep(AFTER_FAILURE)

    async def read(self, instance: int) -> None:
        connection = Connection(self.urls[instance - 1], 10)
        n = 0
        while not self.stopping.is_set():
            n += 1
            started = time.monotonic()
            try:
                response = await connection.request("GET", self.static_paths[n % STATIC])
            except TRANSPORT_ERRORS as exc:
                self.reads.append([instance, started, time.monotonic(), None, False, repr(exc)])
                await asyncio.sleep(AFTER_FAILURE)
                continue
            stale = response.headers.get("x-config-stale") == "true"
            self.reads.append([instance, started, time.monotonic(), response.status, stale, None])
            await asyncio.sleep(READ_PAUSE)
        connection.close()

    async def read_database(self, instance: int) -> None:
        """History and lists, which a replica may serve, in turn."""
        connection = Connection(self.urls[instance - 1], 10)
        paths = {
            "history": f"{CONFIGS}/{self.watched_id}/versions?limit=1",
            "list": f"{APPS}/{self.app_id}/configurations?limit=5",
        }
        n = 0
        while not self.stopping.is_set():
            n += 1
            kind = ("history", "list")[n % 2]
            acknowledged = self.acknowledged_version
            started = time.monotonic()
            try:
                response = await connection.request("GET", paths[kind])
            except TRANSPORT_ERRORS as exc:
                self.database_reads.append(
                    [instance, kind, started, time.monotonic(), None, None, acknowledged, repr(exc)]
                )
                await asyncio.sleep(AFTER_FAILURE)
                continue
            ended = time.monotonic()
            newest = response.json()[0]["version"] if kind == "history" and response.status == 200 else None
            self.database_reads.append([instance, kind, started, ended, response.status, newest, acknowledged, None])
            await asyncio.sleep(DATABASE_READ_PAUSE)
        connection.close()

    async def follow_feed(self) -> None:
        connection = Connection(self.urls[2], 40)
        after = 0
        while True:
            try:
                response = await connection.request("GET", f"/api/v1/changes?after={after}&limit=1000&wait=30")
            except TRANSPORT_ERRORS:
                self.feed_errors += 1
                await asyncio.sleep(AFTER_FAILURE)
                continue
            if response.status != 200:  # 503 while the database is away
                self.feed_errors += 1
                await asyncio.sleep(AFTER_FAILURE)
                continue
            received = time.monotonic()
            for change in response.json():
                self.feed.append([change["revision"], received])
                after = change["revision"]

    async def follow_watch(self) -> None:
        connection = Connection(self.urls[2], 40)
        etag = None
        while True:
            headers = {"If-None-Match": etag} if etag else {}
            try:
                response = await connection.request("GET", f"{self.watched_path}?wait=30", headers=headers)
            except TRANSPORT_ERRORS:
                self.watch_errors += 1
                await asyncio.sleep(AFTER_FAILURE)
                continue
            if response.status == 200:
                etag = response.headers["etag"]
                stale = response.headers.get("x-config-stale") == "true"
                self.watch.append([response.json()["version"], time.monotonic(), stale])
            elif response.status != 304:
                self.watch_errors += 1
                await asyncio.sleep(AFTER_FAILURE)

    async def drain(self, followers: list[asyncio.Task]) -> None:
        """Until the follower and the watch have seen the last acknowledged change."""
        acknowledged = [w for w in self.writes if w[4] in (200, 201)]
        last_revision = max((w[7] for w in acknowledged), default=0)
        last_version = max((w[6] for w in acknowledged if w[1] == "update"), default=0)
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            seen_revision = self.feed[-1][0] if self.feed else 0
            seen_version = self.watch[-1][0] if self.watch else 0
            if seen_revision >= last_revision and seen_version >= last_version:
                break
            await asyncio.sleep(0.05)
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)


async def wait_healthy(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = Connection(url, 5)
        try:
            if (await connection.request("GET", "/health")).status == 200:
                return
        except TRANSPORT_ERRORS:
            pass
        finally:
            connection.close()
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} not healthy after {timeout}s")


async def served(url: str) -> dict[str, int] | None:
    """The instance's count of reads a replica may serve, as "database/kind"."""
    connection = Connection(url, 10)
    try:
        response = await connection.request("GET", "/metrics")
    except TRANSPORT_ERRORS:
        return None
    finally:
        connection.close()
    return {f"{database}/{kind}": int(float(count)) for database, kind, count in SERVED.findall(response.body.decode())}


async def health(url: str) -> int | None:
    connection = Connection(url, 5)
    try:
        return (await connection.request("GET", "/health")).status
    except TRANSPORT_ERRORS:
        return None
    finally:
        connection.close()


async def main(urls: list[str]) -> None:
    run = Run(urls)
    await run.setup()
    emit(ready=time.monotonic(), app_id=run.app_id, watched_id=run.watched_id)
    loop = asyncio.get_running_loop()
    stop_line = loop.run_in_executor(None, sys.stdin.readline)
    followers = [asyncio.create_task(run.follow_feed()), asyncio.create_task(run.follow_watch())]
    load = [
        *(run.create(1, f"one-{n}") for n in range(3)),
        run.create(2, "two"),
        run.update(),
        *(run.read(instance) for instance in (1, 2, 3)),
        *(run.read_database(instance) for instance in (1, 3)),
    ]
    tasks = [asyncio.create_task(coroutine) for coroutine in load]
    await asyncio.wait([stop_line], timeout=MAX_SECONDS)
    run.stopping.set()
    await asyncio.gather(*tasks)
    stopped = time.monotonic()
    await run.drain(followers)
    emit(
        stopped=stopped,
        writes=run.writes,
        reads=run.reads,
        database_reads=run.database_reads,
        feed=run.feed,
        watch=run.watch,
        feed_errors=run.feed_errors,
        watch_errors=run.watch_errors,
        health={n: await health(url) for n, url in enumerate(urls, 1)},
        served={n: await served(url) for n, url in enumerate(urls, 1) if n != 2},
    )


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])["urls"]))
