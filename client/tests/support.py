"""Helpers of the client's tests."""

from __future__ import annotations

import http.server
import threading
import time


def wait_for(condition, timeout: float = 10.0, what: str = "the condition"):
    """The first truthy value of `condition()`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout}s")


class FakeService:
    """An HTTP server that answers every GET (and POST) with the same made-up response (a broken one,
    say), counting the requests: what a proxy or a faulty server might send. A test may change
    `status`, `body` and `headers` between requests (a service that begins to fail, say)."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        fake = self
        self.requests = 0
        self.status, self.body, self.headers = status, body, dict(headers or {})

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests += 1
                status, body, headers = fake.status, fake.body, fake.headers
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __enter__(self) -> FakeService:
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def in_share(configuration_id: str, prefix: str, below: float = 10.0, skip: int = 0) -> str:
    """A client id whose stable bucket for this configuration is below `below` percent: one
    that gets a rollout's version from its first step (the `skip`-th such id)."""
    from queries.rollouts import bucket  # the service's own rule, not a copy of it

    found = (f"{prefix}-{n}" for n in range(100_000) if bucket(configuration_id, f"{prefix}-{n}") < below)
    for _ in range(skip):
        next(found)
    return next(found)


def out_of_share(configuration_id: str, prefix: str, at_least: float = 50.0) -> str:
    """A client id that keeps the old version until a rollout passes `at_least` percent."""
    from queries.rollouts import bucket

    return next(f"{prefix}-{n}" for n in range(100_000) if bucket(configuration_id, f"{prefix}-{n}") >= at_least)
