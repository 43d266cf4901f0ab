"""A dedicated connection that LISTENs on a channel and hands what it hears to the event loop.

It runs in its own thread, so a slow or vanished server never blocks the loop. The loop hears
two things, always in order: `on_listening(True, position)` when listening starts (with what
`position(connection)` read right after LISTEN, so that every change after it is announced) and
`on_listening(False, None)` when it stops, and `on_payloads([...])` for notifications
received while listening. `on_heard(payloads)`, if given, runs in the listener's own thread
first: for what must not wait for the loop, which a flood of requests can keep busy. A lost
connection is retried until `stop()`. A server that vanishes without closing the connection is noticed by
a ping every `ping_interval` seconds, bounded by TCP keepalives and `tcp_user_timeout`.
"""

import asyncio
import contextlib
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable

import psycopg2
from psycopg2.extras import RealDictCursor

from infra.database import connect_kwargs, describe
from infra.hosts import Hosts

log = logging.getLogger(__name__)

# While it cannot listen, it says why this often.
REPORT_EVERY = 30.0
# How the listening connection shows in pg_stat_activity.
LISTENER_APPLICATION_NAME = "config-service-listener"


class ChangeListener:
    def __init__(
        self,
        dsn: str | Hosts,
        channel: str,
        *,
        on_payloads: Callable[[list[str]], None],
        on_listening: Callable[[bool, object], None],
        position: Callable[[object], object] = lambda cursor: None,
        on_heard: Callable[[list[str]], None] | None = None,
        connect_timeout: int = 3,
        ping_interval: float = 2.0,
        retry_delay: float = 0.5,
    ) -> None:
        if not channel.isidentifier():
            raise ValueError(f"not a channel name: {channel!r}")
        # Shared with the pool (infra/hosts.py): who finds the new primary first tells the other.
        self._hosts = dsn if isinstance(dsn, Hosts) else Hosts(dsn)
        self._channel = channel
        self._on_payloads = on_payloads
        self._on_listening = on_listening
        self._position = position
        self._on_heard = on_heard
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._retry_delay = retry_delay
        self._stopping = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="change-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join(timeout=10)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _run(self) -> None:
        failing_since = None
        last_report = 0.0
        while not self._stopping.is_set():
            conn = None
            listening = False
            try:
                conn = psycopg2.connect(
                    self._hosts.dsn,
                    # A blocked send or an unanswered ping fails after connect_timeout.
                    **connect_kwargs(self._connect_timeout, application_name=LISTENER_APPLICATION_NAME),
                    cursor_factory=RealDictCursor,
                )
                conn.autocommit = True
                self._hosts.worked(conn.info.host, conn.info.port)
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {self._channel}")
                position = self._position(conn)
                listening = True
                self._tell(self._on_listening, True, position)
                if failing_since is not None:
                    log.info("listening on %s again after %.1fs", self._channel, time.monotonic() - failing_since)
                    failing_since = None
                self._listen(conn)
            except (psycopg2.Error, OSError) as exc:
                now = time.monotonic()
                if failing_since is None or now - last_report >= REPORT_EVERY:
                    log.warning(
                        "change listener on %s %s: %s",
                        describe(self._hosts.dsn),
                        "lost" if failing_since is None else f"still failing after {now - failing_since:.0f}s",
                        str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                    )
                    last_report = now
                failing_since = failing_since or now
            except Exception:
                # A bug in what runs on the loop's behalf: never let it end listening for good.
                failing_since = failing_since or time.monotonic()
                log.exception("change listener failed; starting again")
            finally:
                if listening:
                    self._tell(self._on_listening, False, None)
                if conn is not None:
                    conn.close()
            self._stopping.wait(self._retry_delay)

    def _listen(self, conn) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(conn, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            last_contact = time.monotonic()
            while not self._stopping.is_set():
                if selector.select(timeout=self._ping_interval):
                    conn.poll()  # raises if the server closed the connection
                    last_contact = time.monotonic()
                elif time.monotonic() - last_contact >= self._ping_interval:
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1")
                    last_contact = time.monotonic()
                if conn.notifies:
                    payloads = [notify.payload for notify in conn.notifies]
                    conn.notifies.clear()
                    if self._on_heard is not None:
                        try:
                            self._on_heard(payloads)
                        except Exception:  # its bug must not end listening
                            log.exception("handling announcements in the listener's thread failed")
                    self._tell(self._on_payloads, payloads)

    def _tell(self, callback: Callable, *arguments: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody to tell
            self._loop.call_soon_threadsafe(callback, *arguments)
