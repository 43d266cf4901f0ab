"""The client's logic without its I/O.

Every operation is a generator (a *flow*) that yields what it needs done — send a `Call`,
`Sleep`, `Notify` a callback, `Work` on the disk — and gets back the outcome: an
`httpx.Response`, or the `httpx.RequestError` that came instead (or what the work returned).
The sync and the async client each drive the same flows (`drive` and `drive_async` in
`_drivers.py`), so both behave alike by construction.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from config_client.errors import (
    ConfigServiceError,
    Conflict,
    ErrorDetail,
    Forbidden,
    InvalidSchema,
    NotFound,
    PreconditionFailed,
    SchemaViolation,
    Unauthorized,
    Unavailable,
    ValidationError,
)

API = "/api/v1"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Call:
    """One HTTP request. `path` starts at the service root; `idempotent`: safe to repeat after
    a failure whatever happened to the first attempt (reads)."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    read_timeout: float | None = None  # for long-polls, longer than the client's timeout
    idempotent: bool = True


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Notify:
    """Call back with `value`. The flow gets back the exception the callback raised (logged by
    the driver), or None when it returned."""

    callback: Callable[[Any], Any]
    value: Any


@dataclass(frozen=True)
class Work:
    """Blocking work (disk I/O): run as it is by the sync driver, in a worker thread by the
    async one, so it never holds up an event loop. Its result is what the flow gets back."""

    function: Callable[[], Any]


Instruction = Call | Sleep | Notify | Work
Outcome = httpx.Response | httpx.RequestError | None
T = TypeVar("T")
# What a flow gets back: an Outcome for a Call, a Work's result, None for the rest.
Flow = Generator[Instruction, Any, T]


def segment(name: str) -> str:
    """A name as one path segment: percent-encoded, `/` included; `.` and `..` too, which
    would otherwise be read as a path step."""
    encoded = quote(name, safe="")
    return encoded.replace(".", "%2E") if set(encoded) == {"."} else encoded


def quote_etag(etag: str) -> str:
    """An entity tag as a header wants it: quoted, unless it is already (or is `*`)."""
    etag = etag.strip()
    return etag if etag == "*" or etag.startswith(('"', 'W/"')) else f'"{etag}"'


_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def next_link(response: httpx.Response) -> str | None:
    match = _NEXT.search(response.headers.get("link", ""))
    return match.group(1) if match else None


_ERRORS: dict[int, type[ConfigServiceError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: ValidationError,
}
# A 422 with one of these codes: a ValidationError of its own kind.
_CODES: dict[str, type[ConfigServiceError]] = {
    "schema_violation": SchemaViolation,
    "invalid_schema": InvalidSchema,
}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from(response: httpx.Response) -> ConfigServiceError:
    """The typed error for a failed response, with the service's code, message and details."""
    status = response.status_code
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if not isinstance(body, dict):
        body = {}
    details = tuple(
        ErrorDetail(
            str(d.get("location", "")), str(d.get("message", "")), _text(d.get("path")), _text(d.get("keyword"))
        )
        for d in body.get("details") or ()
        if isinstance(d, dict)
    )
    cls = _ERRORS.get(status) or (Unavailable if status >= 500 else ConfigServiceError)
    if status == 422:
        cls = _CODES.get(str(body.get("code")), cls)
    return cls(
        str(body.get("message") or f"{status} {response.reason_phrase}".strip()),
        status=status,
        code=body.get("code"),
        details=details,
        request_id=body.get("request_id") or response.headers.get("x-request-id"),
    )


def gone(response: httpx.Response) -> bool:
    """Whether a response is the service saying the resource does not exist: a 404 with the
    service's error body (code `not_found`), not a 404 of a proxy or another server."""
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") == "not_found"


def unavailable(outcome: Outcome, url: str) -> ConfigServiceError:
    if isinstance(outcome, httpx.Response):
        return error_from(outcome)
    reason = f"{type(outcome).__name__}: {outcome}" if str(outcome) else type(outcome).__name__
    return Unavailable(f"the config service at {url} cannot be reached ({reason})")


def describe(outcome: Outcome) -> str:
    if isinstance(outcome, httpx.Response):
        return str(error_from(outcome))
    return f"{type(outcome).__name__}: {outcome}"


MAX_EXPONENT = 64


def backoff(attempt: int, base: float, most: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry `attempt` (1, 2, ...): exponential, with jitter (half
    fixed, half random, so retries spread out but still grow); at least the server's
    Retry-After, at most `most`."""
    # The exponent is capped: past it the ceiling is `most` anyway, and 2.0 ** 1024 overflows.
    ceiling = min(most, base * 2.0 ** min(max(attempt - 1, 0), MAX_EXPONENT))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, most)


def retry_after(outcome: Outcome) -> float | None:
    if not isinstance(outcome, httpx.Response):
        return None
    try:
        return max(0.0, float(outcome.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def worth_retrying(call: Call, outcome: Outcome) -> bool:
    """Whether a failed attempt may be repeated: any read; a write only when it surely was not
    carried out (no connection was made, or the service said 503 before doing anything)."""
    if isinstance(outcome, httpx.Response):
        return outcome.status_code >= 500 and (call.idempotent or outcome.status_code == 503)
    return call.idempotent or isinstance(outcome, (httpx.ConnectError, httpx.ConnectTimeout))


def ok(outcome: Outcome) -> bool:
    return isinstance(outcome, httpx.Response) and outcome.status_code < 500
