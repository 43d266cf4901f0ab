"""A client's connection settings and the sending of its requests, with retries: what the read
flows (`_core`) and the admin flows (`_admin`) both build on."""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Any

import httpx

from config_client._protocol import Call, Flow, Outcome, Sleep, backoff, ok, retry_after, unavailable, worth_retrying
from config_client._version import __version__

log = logging.getLogger("config_client")

# The services whose token went over plain http, warned about once per process: a program that
# makes many clients (one per request, say) gets one line, not one per client.
_exposed_warned: set[str] = set()
_exposed_lock = threading.Lock()


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine: `localhost` (and names under
    it), 127.0.0.0/8, ::1 and the IPv4-mapped form of those."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


class Transport:
    """Where the service is, how to authenticate, and how long and how often to try."""

    def __init__(
        self, base_url: str, token: str | None, timeout: float, retries: int, backoff: float, max_backoff: float
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {"Accept": "application/json", "User-Agent": f"config-service-client/{__version__}"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        url = httpx.URL(self.base_url)
        # Where a token would cross a network unencrypted: said once, when it is first sent.
        self._exposed: str | None = None
        if token and url.scheme == "http" and not is_loopback(url.host):
            self._exposed = f"http://{url.netloc.decode('ascii')}"

    def http_options(self) -> dict[str, Any]:
        """Settings of the httpx client a driver makes."""
        return {"base_url": self.base_url, "headers": self.headers, "timeout": self.timeout}

    def ask(self, call: Call) -> Flow[Outcome]:
        """Sends `call` once: the response, or the error that came instead. Every request of
        the client goes through here."""
        if self._exposed is not None:
            self._warn_exposed()
        return (yield call)

    def _warn_exposed(self) -> None:
        origin, self._exposed = self._exposed, None
        with _exposed_lock:
            if origin is None or origin in _exposed_warned:
                return
            _exposed_warned.add(origin)
        log.warning(
            "the token is sent to %s unencrypted (http://, not this machine): anyone on the network "
            "between can read and use it; use https://",
            origin,
        )

    def send(self, call: Call) -> Flow[httpx.Response]:
        """The response to `call` (any status below 500), retrying failures that are worth
        it; Unavailable (or the 5xx's error) when the retries are spent."""
        attempt = 0
        while True:
            outcome = yield from self.ask(call)
            if ok(outcome):
                assert isinstance(outcome, httpx.Response)
                return outcome
            if attempt >= self.retries or not worth_retrying(call, outcome):
                raise unavailable(outcome, self.base_url)
            attempt += 1
            yield Sleep(backoff(attempt, self.backoff, self.max_backoff, retry_after(outcome)))
