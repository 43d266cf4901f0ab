"""Who may do what, decided here and nowhere else.

Authentication, for every /api request (`AuthMiddleware`): with AUTH=tokens a request carries
`Authorization: Bearer <secret>`; the token is found in memory (queries/tokens.py: no database
round trip), else 401 (`token_expired` once it has expired), and an address that keeps failing
gets 429. The request then carries its `Principal`, and its use is noted (api/token_use.py).
With AUTH=off everyone is an unlimited admin with no name.

Authorization, declared where each route is declared: `dependencies=needs("write")` (or
`PUBLIC`), enforced for the route that matched by api/routing.py, which refuses at import a
route that declares nothing. The declaration is FastAPI's `Security` requirement on the
bearer scheme, so the OpenAPI document states each operation's scope:
`"security": [{"bearer": ["write"]}]`.

A token limited to some applications finds every other one as if it did not exist: the read
side applies the limit to every view it hands out, the write side to every statement
(infra/access.py); a route only passes on who asks (`api.services.among`, `caller`).
"""

import ipaddress
import logging
import math
import time
from collections import OrderedDict, deque

from fastapi import FastAPI, Request, params
from fastapi.security import HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ErrorBody, send_error
from api.token_use import TokenUses
from infra import metrics
from infra.access import allows
from infra.settings import Settings
from queries.tokens import Token, TokenTable

log = logging.getLogger("api")

LOOPBACK_NAMES = ("localhost",)
FIRST_TOKEN = "pipenv run token create --name admin --scope admin"

# Who a request acts as: a token's name, scope and applications (ids; None: all). The token
# as held (queries/tokens.py) is used as it is: nothing is built per request.
Principal = Token
# With AUTH=off: anyone, with every right, secret values shown (local development).
EVERYONE = Principal(name=None, scope="admin", reveal=True)

# Refusals counted by reason (infra/metrics.py): no token, an unknown or revoked one, an
# address blocked for failing (429), a scope too small, a token limited to some applications.
REFUSED = {
    reason: metrics.AUTH_REFUSED.labels(reason)
    for reason in ("missing", "unknown", "expired", "blocked", "scope", "limited")
}

BEARER = HTTPBearer(
    scheme_name="bearer", description="An API token (cfs_...): `pipenv run token create`", auto_error=False
)


class Needs(params.Security):
    """A route's declaration: the scope a token needs, and whether it must be limited to no
    application (what would otherwise tell a limited token of the others)."""

    def __init__(self, scope: str, every_application: bool = False) -> None:
        super().__init__(BEARER, scopes=[scope])
        self.scope = scope
        self.every_application = every_application

    def refusal(self, who: Principal) -> str | None:
        """Why `who` may not call the route; None when it may."""
        if not allows(who.scope, self.scope):
            REFUSED["scope"].inc()
            return f"this needs a token with the {self.scope} scope; {who.name!r} has {who.scope}"
        if self.every_application and who.applications is not None:
            REFUSED["limited"].inc()
            return "this needs a token that is not limited to some applications"
        return None


def _anyone() -> None:
    """Open to every caller: no token is asked for."""


class Public(params.Depends):
    """A route's declaration that anyone may call it, token or not."""

    def __init__(self) -> None:
        super().__init__(_anyone)


def needs(scope: str, *, every_application: bool = False) -> list[params.Depends]:
    """What a route declares in `dependencies=`: the scope it needs."""
    return [Needs(scope, every_application)]


PUBLIC = [Public()]


def principal(request: Request) -> Principal:
    return request.scope.get("state", {}).get("principal", EVERYONE)


def sees_secrets(who: Principal) -> bool:
    """Whether secret values are shown to `who` in the admin views (by id, lists, history,
    the answers to changes): a token with `reveal` (anyone with AUTH=off)."""
    return who.reveal


def client_sees_secrets(who: Principal) -> bool:
    """Whether /config shows `who` secret values: a token with `reveal`, or one limited to
    applications (a client service's own: it reads only its applications, whose values it
    needs). An unlimited token without `reveal` (an operator's) gets them masked."""
    return who.reveal or who.applications is not None


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
    """Who is asking, for every /api request (and `also` paths: /metrics unless public): kept
    to a few dictionary lookups and one hash."""

    def __init__(
        self,
        app: ASGIApp,
        mode: str,
        tokens: TokenTable,
        limiter: FailureLimiter | None = None,
        uses: TokenUses | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.mode = mode
        self.tokens = tokens
        self.limiter = limiter or FailureLimiter()
        self.uses = uses or TokenUses()
        self.paths = ("/api/", *also)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.paths):
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
        if who is not None:
            now = time.time()
            if who.expires_at is None or now < who.expires_at:
                self.uses.noted[who.token_id] = now
                state["principal"] = who
                await self.app(scope, receive, send)
                return
        # A valid token passes even from a blocked address (one shared by a proxy or NAT).
        rid = state.get("request_id", "")
        address = scope["client"][0] if scope.get("client") else "unknown"
        blocked = self.limiter.blocked and self.limiter.blocked_for(address)
        if blocked:
            REFUSED["blocked"].inc()
            retry = str(math.ceil(blocked))
            await send_error(send, 429, "too many failed authentications; retry later", rid, {"Retry-After": retry})
            return
        self.limiter.failed(address)
        code = None
        if secret is None:
            REFUSED["missing"].inc()
            message = "send Authorization: Bearer <token>"
        elif who is None:
            REFUSED["unknown"].inc()
            message = "the token is unknown or revoked"
        else:
            REFUSED["expired"].inc()
            code, message = "token_expired", "the token has expired; ask for a new one"
        challenge = 'Bearer realm="config-service"' + ("" if secret is None else ', error="invalid_token"')
        await send_error(send, 401, message, rid, {"WWW-Authenticate": challenge}, code=code)


AUTH_ERRORS = {
    "401": (
        "Missing, malformed, unknown, revoked or expired token (`token_expired`)",
        {"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "403": ("The token's scope does not allow this", {}),
    "429": (
        "Too many failed authentications from this address",
        {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    ),
}


def document_security(app: FastAPI, mode: str) -> None:
    """The OpenAPI document as access control is set: with tokens, each /api operation states
    the scope it needs (from its declaration) and the answers a token can get; with AUTH=off,
    no operation asks for a token."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        if mode != "tokens":
            components.pop("securitySchemes", None)
            for item in schema["paths"].values():
                for operation in item.values():
                    operation.pop("security", None)
            return schema
        components.setdefault("schemas", {}).setdefault("ErrorBody", ErrorBody.model_json_schema())
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for route in app.routes:
            access = getattr(route, "access", None)
            item = schema["paths"].get(getattr(route, "path_format", None))
            if not isinstance(access, Needs) or item is None:
                continue
            for method in route.methods:
                operation = item[method.lower()]
                # OpenAPI 3.1 allows role names for any scheme: the scope the route declares.
                operation["security"] = [{BEARER.scheme_name: [access.scope]}]
                if access.every_application:
                    operation["description"] = (
                        operation.get("description", "") + "\n\nNeeds a token limited to no application."
                    ).strip()
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
