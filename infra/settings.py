"""Service settings: read once from the environment and `.env` (see `.env.example`)."""

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from psycopg2.extensions import parse_dsn
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

Seconds = Annotated[float, Field(gt=0, le=3600)]
# A comma-separated list in the environment (not JSON).
Names = Annotated[tuple[str, ...] | None, NoDecode]
# Where one URL of a comma-separated list ends: before the next scheme (a URL may name several
# hosts, with commas of its own).
NEXT_URL = re.compile(r",\s*(?=postgres(?:ql)?://)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    # Unset: `pipenv run serve` starts the embedded PostgreSQL 16 below.
    database_url: str | None = None
    # Read replicas: standbys of the primary that serve the bulk load, the resync after a gap,
    # history, the change feed's and the lists' reads (infra/replicas.py). Comma-separated URLs.
    database_replica_urls: Names = None
    # How long a read waits for a replica to replay what it must see before it reads the
    # primary; 0: it never waits.
    replica_wait_ms: int = Field(500, ge=0, le=60_000)
    # A replica further behind the primary than this many seconds is skipped until it catches up.
    replica_max_lag_s: Seconds = 5.0
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # "text": one line a record, for people; "json": one JSON object a line, for log shippers.
    log_format: Literal["text", "json"] = "text"
    # Processes serving the one port, each with its own read model (infra/workers.py); 1 keeps
    # one process. Default: the CPUs this process may run on.
    workers: int = Field(default_factory=lambda: _cpus(), ge=1, le=64)
    # /metrics without a token even with AUTH=tokens (when only the scraper can reach the port).
    metrics_public: bool = False
    # Access control: "tokens" or "off". Unset: off on a loopback HOST, tokens on any other.
    auth: Literal["tokens", "off"] | None = None
    # This many failed authentications from one address within 10 s get it 429s for a while.
    auth_failure_limit: int = Field(20, ge=1, le=1_000_000)
    auth_failure_block: Seconds = 30.0
    access_log: bool = False
    # HTTPS: a PEM certificate (chain) and its private key. Both or neither (plain HTTP).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # The Host names the service answers to (a port is ignored; ".example.com" also takes its
    # subdomains; "*" any). Unset: the loopback names when HOST is loopback, any otherwise.
    allowed_hosts: Names = None
    # Other origins (scheme://host[:port]) whose pages may call the API (CORS); unset: none.
    allowed_origins: Names = None
    # The file of the keys that seal secret values (mode 0600; `pipenv run secrets keygen`).
    # Unset: with the embedded database, secrets.key beside PG_DATA_DIR (made at first start);
    # with DATABASE_URL, none, and marking a value secret is refused.
    secrets_keys: Path | None = None

    # Executor workers per lane; the pool holds one connection per worker, so a request never
    # meets an exhausted pool. Reads: 2 measured fastest on 2 cores. Writes: one worker
    # committing batches (see infra/database.py) beat 2 to 16 workers, and batches from one
    # worker never deadlock with each other.
    db_read_workers: int = Field(2, ge=1, le=64)
    db_write_workers: int = Field(1, ge=1, le=64)
    # Most commands a write worker commits together; 1 commits each alone. Each runs in a
    # subtransaction: beyond 64, PostgreSQL's per-backend cache of them overflows.
    db_write_batch: int = Field(32, ge=1, le=64)
    db_connect_timeout: int = Field(3, ge=1, le=60)
    db_statement_timeout_ms: int = Field(5000, ge=100, le=600_000)
    # Requests waiting for a database worker: beyond either bound they get 503 + Retry-After.
    db_queue_max: int = Field(2000, ge=1)
    db_queue_timeout: Seconds = 10.0
    # How long start-up waits for an unreachable database before giving up.
    db_startup_wait: Seconds = 30.0
    migrate_on_start: bool = True

    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Requests held for a watch or a feed wait; past this many, a new wait gets 503.
    max_held_requests: int = Field(20_000, ge=1, le=1_000_000)
    # Memory for cached read views; 0 turns the read model off (every read hits the database).
    read_cache_max_bytes: int = Field(64 * 1024 * 1024, ge=0)
    shutdown_grace: Seconds = 10.0
    # The fleet view lists clients seen within this many seconds; each instance writes what it
    # saw at least every FLEET_FLUSH_SECONDS.
    client_ttl: Annotated[float, Field(gt=0, le=30 * 86400)] = 600.0
    fleet_flush_seconds: Annotated[float, Field(gt=0, le=5)] = 2.0
    # How often (seconds) a thread holding the GIL lets another run (sys.setswitchinterval):
    # under read load the write worker waits about this long for the event loop's thread at
    # each turn. Measured on 2 cores: 0.001 let 15-20% more writes through with 32 readers
    # than Python's 0.005, for 3-5% fewer reads; 0.0005 gained nothing more.
    switch_interval: float = Field(0.001, gt=0, le=0.1)

    # The embedded PostgreSQL 16 used when DATABASE_URL is unset.
    pg_bin: Path | None = None
    pg_data_dir: Path = PROJECT_ROOT / ".pgdata"
    pg_port: int = Field(54329, ge=1, le=65535)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("auth", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @field_validator("workers", mode="before")
    @classmethod
    def _blank_is_every_cpu(cls, value: object) -> object:
        return _cpus() if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", "pg_bin", "tls_cert_file", "tls_key_file", "secrets_keys", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _replica_urls(cls, value: object) -> object:
        if isinstance(value, str):
            value = NEXT_URL.split(value)
        if not isinstance(value, (list, tuple)):
            return value
        urls = tuple(url.strip(" ,") for url in value if url.strip(" ,"))
        for number, url in enumerate(urls, 1):
            try:
                parts = parse_dsn(url)
            except Exception:
                # Never echo it: it may carry a password.
                raise PydanticCustomError(
                    "replica_url", "its URL number {number} is not a PostgreSQL connection URL", {"number": number}
                ) from None
            if not url.startswith(("postgresql://", "postgres://")):
                raise PydanticCustomError(
                    "replica_url",
                    "its URL number {number} is not a postgresql:// URL (list the replicas as URLs, comma-separated)",
                    {"number": number},
                )
            if "," in parts.get("host", "") + parts.get("hostaddr", ""):
                # Each replica is checked on its own: how far one server has replayed says
                # nothing of another that the same URL might lead to.
                raise PydanticCustomError(
                    "replica_url",
                    "its URL number {number} names several hosts: give each replica a URL of its own",
                    {"number": number},
                )
        return urls or None

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: object) -> object:
        names = _split(value)
        if names is None:
            return None
        for name in names:
            if "/" in name or "@" in name:
                raise PydanticCustomError(
                    "host_name", "'{name}' is not a host name (no scheme or path)", {"name": name}
                )
        return tuple(name.removeprefix("[").split("]")[0] if name.startswith("[") else name for name in names)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        names = _split(value)
        if names is None:
            return None
        origins = []
        for name in names:
            origin = normal_origin(name)
            if origin is None:
                raise PydanticCustomError(
                    "origin",
                    "'{name}' is not an origin: list each as scheme://host[:port], with no path and no *",
                    {"name": name},
                )
            origins.append(origin)
        return tuple(origins)

    @model_validator(mode="after")
    def _tls_pair(self) -> "Settings":
        # One alone is a mistake to report, not a reason to serve plain HTTP.
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            given, missing = (
                ("TLS_CERT_FILE", "TLS_KEY_FILE") if self.tls_key_file is None else ("TLS_KEY_FILE", "TLS_CERT_FILE")
            )
            raise PydanticCustomError(
                "tls_pair",
                "{missing} is not set but {given} is: HTTPS needs both, plain HTTP neither",
                {"missing": missing, "given": given},
            )
        return self


def _cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return os.process_cpu_count() or 1


def _split(value: object) -> object:
    """A comma-separated list, lower-cased, blanks dropped; empty: None (unset)."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, (list, tuple)):
        names = tuple(str(name).strip().lower() for name in value if str(name).strip())
        return names or None
    return value


DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def normal_origin(text: str) -> str | None:
    """An origin as browsers send it (lower-case, no default port, no trailing slash); None if
    `text` is not one."""
    text = text.strip().lower().removesuffix("/")
    scheme, separator, host = text.partition("://")
    if not separator or scheme not in DEFAULT_PORTS or not host or any(c in host for c in "/?#@* "):
        return None
    return f"{scheme}://{host.removesuffix(DEFAULT_PORTS[scheme])}"


class SettingsError(Exception):
    """An environment variable has an invalid value; the message names it."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: dict) -> str:
    if not error["loc"]:  # a rule over several settings: its message names them
        return f"invalid settings: {error['msg']}"
    name = str(error["loc"][0]).upper()
    # Never echo a database URL back: it may carry a password.
    shown = "" if name in ("DATABASE_URL", "DATABASE_REPLICA_URLS") else f"={error.get('input')!r}"
    return f"invalid setting {name}{shown}: {error['msg']}"
