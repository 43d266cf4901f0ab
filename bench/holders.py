"""Many held requests at once (watches, feed waits), each on its own connection, and when each
was answered: a minimal HTTP/1.1 client on asyncio streams, light enough to hold 10,000."""

import asyncio
import resource
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Held:
    status: int | None = None
    answered_at: float | None = None  # time.monotonic()
    error: str | None = None
    written_at: float | None = None  # when the change that should end it was made
    task: asyncio.Task | None = field(default=None, repr=False)


def allow_open_files(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, count))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < count:
        raise SystemExit(f"the open-file limit ({hard}) is below the {count} connections this needs")


async def hold(
    base_url: str,
    paths: list[str],
    headers: dict[str, str],
    batch: int = 250,
    each: list[dict[str, str]] | None = None,
) -> list[Held]:
    """Sends GET `path` on a new connection for each path (with `headers`, and `each[i]` for the
    i-th), `batch` connections at a time (the listen backlog is finite); returns at once, the
    answers arriving in the `Held`s."""
    parts = urlsplit(base_url)
    held: list[Held] = []

    async def one(path: str, own: dict[str, str], slot: Held, sent: asyncio.Event) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in {**headers, **own}.items())
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        except OSError as exc:
            slot.error = str(exc)
            sent.set()
            return
        try:
            request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}Connection: close\r\n\r\n"
            writer.write(request.encode())
            await writer.drain()
            sent.set()
            head = await reader.readuntil(b"\r\n\r\n")
            slot.answered_at = time.monotonic()
            slot.status = int(head.split(b" ", 2)[1])
        except (OSError, asyncio.IncompleteReadError) as exc:
            slot.error = str(exc) or type(exc).__name__
        finally:
            sent.set()
            writer.close()

    for start in range(0, len(paths), batch):
        events = []
        for index in range(start, min(start + batch, len(paths))):
            slot, sent = Held(), asyncio.Event()
            slot.task = asyncio.ensure_future(one(paths[index], each[index] if each else {}, slot, sent))
            held.append(slot)
            events.append(sent)
        await asyncio.gather(*(event.wait() for event in events))
    return held


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
