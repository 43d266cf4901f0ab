"""Who may do what, decided here and nowhere else.

With AUTH=tokens every /api request carries `Authorization: Bearer <secret>`. The middleware
finds the token in memory (queries/tokens.py: no database round trip), answers 401 for a
missing, malformed, unknown or revoked one, 429 to an address that keeps failing, and 403
when the token's scope is not enough for the route (`required_scope`). The request then
carries its `Principal`; a token limited to some applications finds every other one as if
it did not exist, which the routes apply through `Principal.sees` and `limits` (reads) and
the commands' `applications` (writes, in the statement itself).

With AUTH=off everyone is an unlimited admin with no name.
"""

import ipaddress
import logging
import math
import time
from collections import OrderedDict, deque

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ErrorBody, send_error
from infra.settings import Settings
from queries.tokens import Scope as TokenScope
from queries.tokens import Token, TokenTable

log = logging.getLogger("api")

RANK = {"read": 0, "write": 1, "admin": 2}
LOOPBACK_NAMES = ("localhost",)
FIRST_TOKEN = "pipenv run token create --name admin --scope admin"


# Who a request acts as: a token's name, scope and applications (ids; None: all). The token
# as held (queries/tokens.py) is used as it is: nothing is built per request.
Principal = Token


def may(who: Principal, scope: TokenScope) -> bool:
    return RANK[who.scope] >= RANK[scope]


def limits_of(who: Principal) -> tuple[str, ...] | None:
    """The applications a change by `who` may touch, for the commands."""
    return None if who.applications is None else tuple(sorted(who.applications))


EVERYONE = Principal(name=None, scope="admin")


def principal(request: Request) -> Principal:
    return request.scope.get("state", {}).get("principal", EVERYONE)


def limits(request: Request) -> tuple[str, ...] | None:
    """The applications the request's token is limited to (ids); None: every one."""
    return limits_of(principal(request))


def sees(request: Request, application_id: str | None) -> bool:
    """Whether the request's token may know of this application at all."""
    applications = principal(request).applications
    return applications is None or application_id in applications


def auth_mode(settings: Settings) -> str:
    """AUTH as set; unset, `off` on a loopback address and `tokens` anywhere else."""
    if settings.auth is not None:
        return settings.auth
    return "off" if is_loopback(settings.host) else "tokens"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def required_scope(method: str, path: str) -> tuple[TokenScope, bool]:
    """The scope a route needs, and whether it needs a token limited to no application."""
    if path.startswith("/api/v1/tokens"):
        return ("read", False) if path.rstrip("/") == "/api/v1/tokens/current" else ("admin", True)
    if method in ("GET", "HEAD"):
        return "read", False
    path = path.rstrip("/")
    if path == "/api/v1/applications" and method == "POST":
        return "admin", True  # a new application is outside every limit
    if method == "DELETE" and path.startswith("/api/v1/applications/") and path.count("/") == 4:
        return "admin", False
    return "write", False


class FailureLimiter:
    """Addresses that keep failing to authenticate: `max_failures` within `window` seconds
    block an address for `block` seconds. Bounded: the least recent addresses are forgotten."""

    def __init__(self, max_failures: int = 20, window: float = 10.0, block: float = 30.0, size: int = 10_000) -> None:
        self.max_failures, self.window, self.block, self.size = max_failures, window, block, size
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.blocked: dict[str, float] = {}  # address -> until (time.monotonic())

    def blocked_for(self, address: str) -> float:
        until = self.blocked.get(address)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            del self.blocked[address]
            return 0.0
        return left

    def failed(self, address: str) -> None:
        now = time.monotonic()
        failures = self._failures.pop(address, None) or deque()
        failures.append(now)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) >= self.max_failures:
            self.blocked[address] = now + self.block
            log.warning(
                "%d failed authentications from %s in %.0fs: refused for %.0fs",
                len(failures),
                address,
                self.window,
                self.block,
            )
            failures.clear()
        self._failures[address] = failures
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)
        if len(self.blocked) > self.size:
            now = time.monotonic()
            self.blocked = {a: until for a, until in self.blocked.items() if until > now}


class AuthMiddleware:
    """Runs on every /api request: kept to a few dictionary lookups and one hash."""

    def __init__(self, app: ASGIApp, mode: str, tokens: TokenTable, limiter: FailureLimiter | None = None) -> None:
        self.app = app
        self.mode = mode
        self.tokens = tokens
        self.limiter = limiter or FailureLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if self.mode == "off":
            state["principal"] = EVERYONE
            await self.app(scope, receive, send)
            return
        # Inline, not in helpers: this runs for every request.
        authorization = state.get("authorization")
        secret = None
        if authorization is not None and authorization[:7].lower() == b"bearer ":
            secret = authorization[7:].strip()
            if not secret or b" " in secret:
                secret = None
        who = None if secret is None else self.tokens.find(secret)
        if who is None:
            # A valid token passes even from a blocked address (one shared by a proxy or NAT).
            rid = state.get("request_id", "")
            address = scope["client"][0] if scope.get("client") else "unknown"
            blocked = self.limiter.blocked and self.limiter.blocked_for(address)
            if blocked:
                retry = str(math.ceil(blocked))
                await send_error(send, 429, "too many failed authentications; retry later", rid, {"Retry-After": retry})
                return
            self.limiter.failed(address)
            message = "send Authorization: Bearer <token>" if secret is None else "the token is unknown or revoked"
            challenge = 'Bearer realm="config-service"' + ("" if secret is None else ', error="invalid_token"')
            await send_error(send, 401, message, rid, {"WWW-Authenticate": challenge})
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and not path.startswith("/api/v1/tokens"):
            state["principal"] = who  # every token may read
            await self.app(scope, receive, send)
            return
        needed, unlimited = required_scope(method, path)
        rid = state.get("request_id", "")
        if not may(who, needed):
            await send_error(
                send, 403, f"this needs a token with the {needed} scope; {who.name!r} has {who.scope}", rid
            )
            return
        if unlimited and who.applications is not None:
            await send_error(send, 403, "this needs a token that is not limited to some applications", rid)
            return
        state["principal"] = who
        await self.app(scope, receive, send)


AUTH_ERRORS = {
    "401": ("Missing, malformed, unknown or revoked token", {"WWW-Authenticate": {"schema": {"type": "string"}}}),
    "403": ("The token's scope does not allow this", {}),
    "429": (
        "Too many failed authentications from this address",
        {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    ),
}


def document_security(app: FastAPI) -> None:
    """The OpenAPI document declares the bearer scheme on every /api route (so /docs can send
    a token), and the answers a token can get."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearerAuth"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (cfs_...): `pipenv run token create`",
        }
        components.setdefault("schemas", {}).setdefault("ErrorBody", ErrorBody.model_json_schema())
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, item in schema["paths"].items():
            if not path.startswith("/api/"):
                continue
            for operation in item.values():
                operation["security"] = [{"bearerAuth": []}]
                for status, (description, headers) in AUTH_ERRORS.items():
                    operation["responses"].setdefault(
                        status,
                        {"description": description, "content": error, **({"headers": headers} if headers else {})},
                    )
        return schema

    app.openapi = openapi


def announce_mode(settings: Settings, mode: str, has_admin: bool) -> None:
    """What an operator must know at every start."""
    if mode == "off" and not is_loopback(settings.host):
        log.warning(
            "AUTH=off on %s: anyone who can reach this port can read and change every configuration",
            settings.host,
        )
    elif mode == "tokens" and not has_admin:
        log.warning("AUTH=tokens and no admin token yet: create the first one with `%s`", FIRST_TOKEN)
    else:
        log.info("access control: %s", "tokens" if mode == "tokens" else "off (loopback only)")
