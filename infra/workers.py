"""WORKERS > 1: one parent process and that many worker processes serving one port.

The parent binds the listening socket, then starts the workers, each a fresh interpreter
(spawned, not forked: nothing of the parent's threads, locks or connections is copied) that
serves on the inherited socket. Why one inherited socket rather than a socket per worker
(SO_REUSEPORT): the kernel keeps one queue of connections for all, so a connection waits in
it until a free worker takes it, a worker that dies or is restarted loses none of those
waiting, and no other process can bind the port alongside.

The parent serves nothing: it starts the workers, starts another in place of one that dies
(one that exits by itself before it was ever ready means the service cannot start: the
parent stops the rest and exits 1, as one process would; so do restarts too frequent), and
on SIGTERM or SIGINT tells every worker to stop (SIGTERM: each finishes what it serves,
answers held requests at once) and waits for them. A worker whose parent dies is sent
SIGTERM by the kernel (Linux: PR_SET_PDEATHSIG).
"""

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from infra.metrics import forget_process

log = logging.getLogger("serve")

# Restarts beyond this many within RESTART_WINDOW seconds: something is wrong with every
# worker, not one; the parent stops rather than restart them forever.
MAX_RESTARTS, RESTART_WINDOW = 5, 60.0
PR_SET_PDEATHSIG = 1
_context = multiprocessing.get_context("spawn")

# A worker's target: target(index, sock, ready, *args); it calls ready() once it serves.
Target = Callable[..., None]


@dataclass
class _Worker:
    index: int
    process: Any  # multiprocessing's SpawnProcess
    ready: Any  # multiprocessing's Event
    started: float


class Supervisor:
    def __init__(self, count: int, sock: socket.socket, target: Target, args: tuple, stop_within: float) -> None:
        self.count = count
        self.sock = sock
        self.target = target
        self.args = args
        self.stop_within = stop_within  # each worker's grace, and a margin, before SIGKILL
        self.workers: dict[int, _Worker] = {}
        self.restarts: list[float] = []
        self._stopping = False
        self._wake_read, self._wake_write = os.pipe()

    def run(self) -> int:
        """Until a signal says stop (0) or the workers cannot be kept running (1)."""
        os.set_blocking(self._wake_write, False)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        wakeup = signal.set_wakeup_fd(self._wake_write)
        try:
            for index in range(self.count):
                self._start(index)
            return self._watch()
        finally:
            self._stop_all()
            signal.set_wakeup_fd(wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _stop(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _start(self, index: int) -> None:
        ready = _context.Event()
        process = _context.Process(
            target=_child,
            args=(os.getpid(), self.target, index, self.sock, ready, *self.args),
            name=f"worker-{index}",
            daemon=False,
        )
        process.start()
        self.workers[index] = _Worker(index, process, ready, time.monotonic())

    def _watch(self) -> int:
        announced = False
        while not self._stopping:
            sentinels = {worker.process.sentinel: worker for worker in self.workers.values()}
            ended = wait([*sentinels, self._wake_read], timeout=None if announced else 0.1)
            if self._wake_read in ended:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 512)
            for sentinel in ended:
                worker = sentinels.get(sentinel)
                if worker is None or self._stopping:
                    continue
                worker.process.join()
                code = worker.process.exitcode
                forget_process(worker.process.pid)
                if not worker.ready.is_set() and code is not None and code >= 0:
                    # Its own failure to start (it said why), not a signal from outside.
                    log.error("worker %d exited with status %s before it served: stopping", worker.index, code)
                    return 1
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if t > now - RESTART_WINDOW] + [now]
                if len(self.restarts) > MAX_RESTARTS:
                    log.error(
                        "worker %d exited with status %s, the %dth worker to exit within %.0fs: stopping",
                        worker.index,
                        code,
                        len(self.restarts),
                        RESTART_WINDOW,
                    )
                    return 1
                log.warning(
                    "worker %d (pid %d) exited with status %s; starting another", worker.index, worker.process.pid, code
                )
                self._start(worker.index)
            if not announced and all(worker.ready.is_set() for worker in self.workers.values()):
                log.info("%d workers serving", self.count)
                announced = True
        return 0

    def _stop_all(self) -> None:
        """SIGTERM to every worker; SIGKILL to those still running after `stop_within`."""
        running = [worker.process for worker in self.workers.values() if worker.process.is_alive()]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_within
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker pid %d did not stop within %.0fs: killed", process.pid, self.stop_within)
                process.kill()
                process.join()
            elif process.exitcode != 0:
                log.warning("worker pid %d stopped with status %s", process.pid, process.exitcode)


def _child(parent: int, target: Target, index: int, sock: socket.socket, ready: Any, *args: Any) -> None:
    """In the worker: be told when the parent dies, then run the target."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl took effect
        return
    target(index, sock, ready.set, *args)
