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
    """An HTTP server that answers every GET with the same made-up response (a broken one,
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
