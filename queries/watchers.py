"""Readers waiting for a change: each held watch is one future, registered under the
application it reads, woken when any of that application's views changes. A watch holds
nothing else (no connection, no worker, no task), so that one instance holds ten thousand.

Everything here runs on the event loop thread.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from queries.held import HeldRequests

T = TypeVar("T")


class Watchers:
    def __init__(self, held: HeldRequests | None = None) -> None:
        self._waiting: dict[str, set[asyncio.Future]] = {}  # application id -> wakeups
        self.ending = False  # shutting down: watches answer at once
        self.held = held or HeldRequests()  # counted once a watch waits, until it answers
        self.waiting = 0  # watches waiting for a change now (a metric)

    async def watch(
        self,
        key: Callable[[], str],
        read: Callable[[], Awaitable[T]],
        done: Callable[[T], bool],
        seconds: float,
    ) -> T:
        """`read()` until `done(answer)`, waking at each change under `key()`; after `seconds`,
        the last answer as it was (no read that could fail). TooManyHeld when it would wait
        and this instance holds as many requests as it may."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        holding = False
        try:
            while True:
                # Registered before reading, so that a change during the read is not missed.
                under = key()
                wakeup = loop.create_future()
                self._waiting.setdefault(under, set()).add(wakeup)
                try:
                    answer = await read()
                    remaining = deadline - loop.time()
                    if done(answer) or remaining <= 0 or self.ending:
                        return answer
                    if not holding:
                        self.held.take()
                        holding = True
                    timer = loop.call_later(remaining, _settle, wakeup, False)
                    self.waiting += 1
                    try:
                        changed = await wakeup
                    finally:
                        self.waiting -= 1
                        timer.cancel()
                    if not changed or self.ending:
                        return answer
                finally:
                    waiting = self._waiting.get(under)
                    if waiting is not None:
                        waiting.discard(wakeup)
                        if not waiting:
                            del self._waiting[under]
        finally:
            if holding:
                self.held.release()

    def wake(self, key: str) -> None:
        for wakeup in self._waiting.pop(key, ()):
            _settle(wakeup)

    def wake_all(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for group in waiting.values():
            for wakeup in group:
                _settle(wakeup)

    def end(self) -> None:
        """Shutting down: every watch answers now, as if its time had passed."""
        self.ending = True
        self.wake_all()


def _settle(wakeup: asyncio.Future, changed: bool = True) -> None:
    if not wakeup.done():
        wakeup.set_result(changed)
