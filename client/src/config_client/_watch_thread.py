"""`Watch`: a watch of the blocking client, running in a background thread with an event loop
of its own, so that a stop interrupts a long-poll at once."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import httpx

from config_client._core import Core, Key, label
from config_client._drivers import drive_async, watch_ended


class Watch:
    """A watch running in a background thread; `stop()` ends it (so does closing its client).

    The thread runs a small event loop of its own, so a stop interrupts a long-poll at once
    instead of waiting for it to end.
    """

    def __init__(
        self, core: Core, key: Key, on_change: Callable[[Any], Any], wait: float, model: type | None = None
    ) -> None:
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._main, args=(core, key, on_change, wait, model), name=f"config-watch {label(key)}", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the watch is still running."""
        return self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """Why the watch ended on its own (logged as an error too), if it did; None while it
        runs and after `stop()`."""
        return self._error

    def join(self, timeout: float | None = None) -> bool:
        """Waits (up to `timeout` seconds) for the watch to end; whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the watch and waits (up to `timeout` seconds) for its thread to end; no
        callback starts after this returns. May be called from the callback itself."""
        self._stopping.set()
        self._started.wait(timeout)
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already ended
                self._loop.call_soon_threadsafe(self._wake.set)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _main(self, core: Core, key: Key, on_change: Callable[[Any], Any], wait: float, model: type | None) -> None:
        try:
            asyncio.run(self._run(core, key, on_change, wait, model))
        except Exception as exc:
            self._error = watch_ended(label(key), exc)

    async def _run(
        self, core: Core, key: Key, on_change: Callable[[Any], Any], wait: float, model: type | None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._started.set()
        if self._stopping.is_set():
            return
        async with httpx.AsyncClient(**core.http_options()) as http:
            watching = asyncio.ensure_future(drive_async(core.watch(key, on_change, wait, model), http))
            stopped = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait({watching, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for task in (watching, stopped):
                task.cancel()
            await asyncio.gather(watching, stopped, return_exceptions=True)
            if watching.done() and not watching.cancelled():  # it ended on its own: say why
                self._error = watch_ended(label(key), watching.exception())
