"""The executors' lanes (infra/database.py): reads, and writes committed in batches.

Each lane is an executor behind a bounded wait queue: a request that waits too long, or finds
the queue full, gets `Overloaded` (503 + Retry-After). How long each waited, and how many
commands each write batch held, go to the metrics (infra/metrics.py).
"""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from infra import metrics
from infra.writes import Outcome, Work

T = TypeVar("T")
WRITE_LANE = ("write",)  # the metrics' lane


class Overloaded(Exception):
    """Too many requests are waiting for a database worker."""


class ReadLane:
    """An executor and the bounded queue of requests waiting for one of its workers."""

    def __init__(self, name: str, workers: int, queue_max: int, queue_timeout: float) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"db-{name}")
        self.labels = (name,)  # the metrics' lane
        self.slots = asyncio.Semaphore(workers)
        self.workers = workers
        self.waiting = 0
        self.queue_max = queue_max
        self.queue_timeout = queue_timeout

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.slots.locked():
            if self.waiting >= self.queue_max:
                raise Overloaded("too many requests are waiting for the database")
            self.waiting += 1
            queued = time.perf_counter()
            try:
                await asyncio.wait_for(self.slots.acquire(), self.queue_timeout)
            except TimeoutError:
                raise Overloaded("timed out waiting for a database worker") from None
            finally:
                self.waiting -= 1
                metrics.queue_waits.observe(self.labels, time.perf_counter() - queued)
        else:
            await self.slots.acquire()
            metrics.queue_waits.observe(self.labels, 0.0)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.slots.release()


@dataclass(eq=False)
class _Waiting:
    work: Work
    future: asyncio.Future
    queued: float  # time.perf_counter()
    timer: asyncio.TimerHandle | None = None
    taken: bool = False


class WriteLane:
    """Commands waiting for a write worker; each free worker takes all of them (up to
    `max_batch`) as one batch."""

    def __init__(
        self,
        run_batch: Callable[[list[Work]], list[Outcome]],
        workers: int,
        max_batch: int,
        queue_max: int,
        queue_timeout: float,
    ) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db-write")
        self.run_batch = run_batch  # Database.run_batch: the batch in one transaction
        self.workers = workers
        self.max_batch = max_batch
        self.queue_max = queue_max
        self.queue_timeout = queue_timeout
        self.waiting: deque[_Waiting] = deque()
        self.running = 0

    async def run(self, work: Work) -> Any:
        if len(self.waiting) >= self.queue_max:
            raise Overloaded("too many requests are waiting for the database")
        loop = asyncio.get_running_loop()
        entry = _Waiting(work, loop.create_future(), time.perf_counter())
        self.waiting.append(entry)
        self._start_batches(loop)
        if not entry.taken:  # it may wait only so long
            entry.timer = loop.call_later(self.queue_timeout, self._expire, entry)
        return await entry.future

    def _expire(self, entry: _Waiting) -> None:
        if not entry.taken:
            self.waiting.remove(entry)
            if not entry.future.done():  # else its request was cancelled meanwhile
                entry.future.set_exception(Overloaded("timed out waiting for a database worker"))

    def _start_batches(self, loop: asyncio.AbstractEventLoop) -> None:
        while self.running < self.workers and self.waiting:
            batch = []
            while self.waiting and len(batch) < self.max_batch:
                entry = self.waiting.popleft()
                entry.taken = True
                if entry.timer is not None:
                    entry.timer.cancel()
                if not entry.future.done():  # else its request was cancelled meanwhile
                    batch.append(entry)
            if not batch:
                break
            now = time.perf_counter()
            for entry in batch:
                metrics.queue_waits.observe(WRITE_LANE, now - entry.queued)
            metrics.batch_sizes.observe((), len(batch))
            self.running += 1
            self.executor.submit(self._carry_out, loop, batch, [entry.work for entry in batch])

    def _carry_out(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting], work: list[Work]) -> None:
        """In the worker thread: the batch, then one call back to the loop with every outcome.
        (Not run_in_executor: its future would take the loop two turns more to reach the
        waiting requests, and under read load every turn is long.)"""
        try:
            outcomes = self.run_batch(work)
        except Exception as exc:
            outcomes = [(None, exc)] * len(batch)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(self._finish, loop, batch, outcomes)

    def _finish(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting], outcomes: list) -> None:
        self.running -= 1
        for entry, (result, failure) in zip(batch, outcomes, strict=True):
            if entry.future.done():  # its request was cancelled
                continue
            if failure is None:
                entry.future.set_result(result)
            else:
                entry.future.set_exception(failure)
        self._start_batches(loop)
