"""Which sites may use the service from a browser: the rules the request context middleware
(api/middleware.py) applies to every request, worked out once from the settings.

- **Host** (DNS rebinding): a page of another site can point its own name at this address and
  then read the service as if it were that site. Its requests carry that name as `Host`, so a
  Host outside ALLOWED_HOSTS gets 421. /health is exempt: it tells nothing, and a load
  balancer's probe names the address it knows.
- **Origin** (cross-site requests): a page of any site can send a POST without asking (a
  form, a fetch in `no-cors` mode), though it cannot read the answer. A browser names the
  page's origin on every such request, so an unsafe method (anything but GET, HEAD, OPTIONS)
  from an origin that is neither the service's own (the request's scheme and Host, as a
  proxy forwards them) nor listed in ALLOWED_ORIGINS gets 403 `cross_origin`. A request
  without `Origin` (the CLI, other services) is not a browser's, and passes.
- **CORS**: pages of an origin listed in ALLOWED_ORIGINS may also read the answers, and send
  tokens and conditions (a preflight OPTIONS is answered 204). No other origin gets any CORS
  header, so a browser keeps every other site's page from reading anything.
"""

from starlette.types import Scope

from api.auth import is_loopback
from infra.settings import Settings, normal_origin

# With a loopback HOST and ALLOWED_HOSTS unset, the names a local browser uses for it.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# Exempt from the Host rule (see above).
HEALTH_PATH = "/health"
# Distinct Host values remembered with their verdict; beyond, the memory starts again.
SEEN_HOSTS_MAX = 1024

EXPOSED = b"ETag, Link, Location, Retry-After, X-Request-ID, X-Config-Stale"
PREFLIGHT = (
    (b"access-control-allow-methods", b"GET, HEAD, POST, PUT, PATCH, DELETE"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, If-Match, If-None-Match, X-Request-ID"),
    (b"access-control-max-age", b"600"),
)


class CrossSite:
    def __init__(self, allowed_hosts: tuple[str, ...] | None, allowed_origins: tuple[str, ...] | None) -> None:
        hosts = allowed_hosts or ()
        # Checked first by the middleware: no Host rule at all costs one attribute read.
        self.any_host = allowed_hosts is None or "*" in hosts
        self._names = frozenset(name.rstrip(".") for name in hosts if not name.startswith("."))
        self._suffixes = tuple(name.rstrip(".") for name in hosts if name.startswith("."))
        self._seen: dict[bytes | None, bool] = {}
        self.origins = frozenset(origin.encode() for origin in allowed_origins or ())

    @classmethod
    def of(cls, settings: Settings) -> "CrossSite":
        hosts = settings.allowed_hosts
        if hosts is None and is_loopback(settings.host):
            hosts = (*LOOPBACK_HOSTS, settings.host.strip("[]").lower())
        return cls(hosts, settings.allowed_origins)

    def host_allowed(self, host: bytes | None) -> bool:
        verdict = self._seen.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(self._seen) >= SEEN_HOSTS_MAX:
                self._seen.clear()
            self._seen[host] = verdict
        return verdict

    def _judge(self, host: bytes | None) -> bool:
        if not host:
            return False
        text = host.decode("latin-1").strip().lower()
        if text.startswith("["):  # [::1]:8000
            name = text[1:].partition("]")[0]
        else:
            name = text.rpartition(":")[0] if text.count(":") == 1 else text
        name = name.rstrip(".")
        return name in self._names or any(name == s[1:] or name.endswith(s) for s in self._suffixes)

    def foreign(self, origin: bytes, scope: Scope, host: bytes | None) -> bool:
        """Whether a request's `Origin` is neither the service's own nor an allowed one."""
        scheme = scope.get("scheme", "http")
        if host is not None and origin == scheme.encode() + b"://" + host:
            return False  # what a browser sends for the service's own pages
        if origin in self.origins:
            return False
        own = None if host is None else normal_origin(f"{scheme}://{host.decode('latin-1')}")
        return own is None or normal_origin(origin.decode("latin-1")) != own

    def cors_headers(self, origin: bytes | None) -> tuple[tuple[bytes, bytes], ...]:
        """What an answer to a page of `origin` carries so that the page may read it: nothing
        unless the origin is allowed."""
        if origin is None or origin not in self.origins:
            return ()
        return (
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", EXPOSED),
        )
