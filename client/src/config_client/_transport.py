"""A client's connection settings and the sending of its requests, with retries: what the read
flows (`_core`) and the admin flows (`_admin`) both build on."""

from __future__ import annotations

from typing import Any

import httpx

from config_client._protocol import Call, Flow, Outcome, Sleep, backoff, ok, retry_after, unavailable, worth_retrying
from config_client._version import __version__


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

    def http_options(self) -> dict[str, Any]:
        """Settings of the httpx client a driver makes."""
        return {"base_url": self.base_url, "headers": self.headers, "timeout": self.timeout}

    def send(self, call: Call) -> Flow[httpx.Response]:
        """The response to `call` (any status below 500), retrying failures that are worth
        it; Unavailable (or the 5xx's error) when the retries are spent."""
        attempt = 0
        while True:
            outcome: Outcome = yield call
            if ok(outcome):
                assert isinstance(outcome, httpx.Response)
                return outcome
            if attempt >= self.retries or not worth_retrying(call, outcome):
                raise unavailable(outcome, self.base_url)
            attempt += 1
            yield Sleep(backoff(attempt, self.backoff, self.max_backoff, retry_after(outcome)))
