"""Many concurrent HTTP clients for the reliability tests.

A minimal HTTP/1.1 keep-alive client on asyncio streams: httpx's async pool manages only
a few hundred requests a second here at 256 connections, which would test the client, not
the service.
"""

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class Connection:
    """One keep-alive connection; reconnects after the server closes it."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None, headers: dict | None = None) -> Response:
        return await asyncio.wait_for(self._request(method, path, body, headers or {}), self.timeout)

    async def _request(self, method: str, path: str, body: object, headers: dict) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(payload)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        head += [f"{name}: {value}" for name, value in headers.items()]
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        try:
            raw_head = await self._reader.readuntil(b"\r\n\r\n")
            status_line, *lines = raw_head.decode("latin-1").split("\r\n")
            fields = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    fields[name.strip().lower()] = value.strip()
            content = await self._reader.readexactly(int(fields.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if fields.get("connection", "").lower() == "close":
            self.close()
        return Response(int(status_line.split(" ")[1]), fields, content)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


Request = Callable[[Connection, random.Random], Awaitable[Response]]


@dataclass
class Outcome:
    started: float  # time.monotonic() when sent
    elapsed: float
    status: int | None  # None: no HTTP response (refused, reset, timed out)
    error: str | None = None
    response: Response | None = field(default=None, repr=False)


async def drive(
    base_url: str,
    clients: int,
    seconds: float,
    request: Request,
    timeout: float = 30,
    until: asyncio.Event | None = None,
) -> list[Outcome]:
    """`clients` concurrent clients, each on its own connection, sending `request` in a loop
    for `seconds`, or until `until` is set."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + seconds
    until = until or asyncio.Event()

    async def one_client(seed: int) -> None:
        rng = random.Random(seed)
        connection = Connection(base_url, timeout)
        try:
            while time.monotonic() < deadline and not until.is_set():
                started = time.monotonic()
                try:
                    response = await request(connection, rng)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    outcomes.append(Outcome(started, time.monotonic() - started, None, repr(exc)))
                    await asyncio.sleep(0.05)
                    continue
                outcomes.append(Outcome(started, time.monotonic() - started, response.status, response=response))
        finally:
            connection.close()

    await asyncio.gather(*(one_client(seed) for seed in range(clients)))
    return outcomes


def statuses(outcomes: list[Outcome]) -> dict:
    counts: dict = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts
