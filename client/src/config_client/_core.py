"""What both clients share: settings, the documents held in memory and on disk, and the read
flows (see `_protocol`). The admin flows are in `_admin`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from config_client._admin import AdminFlows
from config_client._protocol import (
    API,
    Call,
    Flow,
    Notify,
    Outcome,
    Sleep,
    backoff,
    describe,
    error_from,
    ok,
    retry_after,
    segment,
    unavailable,
    worth_retrying,
)
from config_client._version import __version__
from config_client.cache import DiskCache
from config_client.errors import ConfigServiceError, Unavailable
from config_client.models import Configuration, Snapshot

log = logging.getLogger("config_client")

Key = tuple[str, str | None]  # (application, configuration name); None: all of them
Held = Configuration | Snapshot

# A long-poll that answers "not modified" sooner than this did not wait (a server without
# long-polls, say): pause, so the watch never spins.
MIN_POLL_SECONDS = 1.0


def label(key: Key) -> str:
    application, name = key
    return application if name is None else f"{application}/{name}"


def _canonical(value: Held) -> str:
    # As JSON text, not Python values: to Python, true == 1 == 1.0.
    return json.dumps(value.documents if isinstance(value, Snapshot) else value.config, sort_keys=True)


class Core(AdminFlows):
    def __init__(
        self,
        base_url: str,
        token: str | None,
        cache_dir: str | os.PathLike[str] | None,
        timeout: float,
        retries: int,
        backoff: float,
        max_backoff: float,
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
        self.cache = DiskCache(cache_dir, self.base_url) if cache_dir is not None else None
        self._lock = threading.Lock()
        self._held: dict[Key, Held] = {}
        self._stale: set[Key] = set()
        self._warned: set[Key] = set()  # keys whose outage was logged, until they are fresh again

    def http_options(self) -> dict[str, Any]:
        """Settings of the httpx client a driver makes."""
        return {"base_url": self.base_url, "headers": self.headers, "timeout": self.timeout}

    @property
    def stale(self) -> bool:
        with self._lock:
            return bool(self._stale)

    # -- sending ----------------------------------------------------------------------

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

    # -- reading by name --------------------------------------------------------------

    def read(self, key: Key) -> Flow[Held]:
        """The current view of a configuration (or an application's snapshot): a conditional
        request when one is held; the last-known-good copy when the service cannot answer."""
        held = self._held.get(key)
        headers = {"If-None-Match": held.etag} if held is not None and held.etag else None
        try:
            response = yield from self.send(Call("GET", self._read_path(key), headers=headers))
        except Unavailable as exc:
            return self._fall_back(key, held, exc)
        return self._accept(key, held, response)

    def watch(self, key: Key, on_change: Callable[[Any], Any], wait: float) -> Flow[None]:
        """Long-polls until stopped (its driver cancels it), calling back with the document (or
        the documents by name) on every change. It resumes from the version it saw last, or
        from the one the client held when it began; a change while the watch was failing is
        delivered when it is back."""
        seen = self._held.get(key)
        failures = 0
        path = self._read_path(key)
        while True:
            headers = {"If-None-Match": seen.etag} if seen is not None and seen.etag else None
            call = Call("GET", path, params={"wait": wait}, headers=headers, read_timeout=wait + self.timeout)
            started = time.monotonic()
            outcome = yield call
            value: Held | None = None
            if isinstance(outcome, httpx.Response) and outcome.status_code in (200, 304):
                try:
                    value = self._accept(key, seen, outcome)
                except ConfigServiceError as exc:
                    outcome = httpx.DecodingError(f"unreadable response: {exc}")
            if value is None:
                failures += 1
                if failures == 1:
                    log.warning("watching %s: %s; retrying with backoff", label(key), describe(outcome))
                if isinstance(outcome, httpx.Response) and outcome.status_code == 404:
                    self.forget(key)
                    seen = None
                yield Sleep(backoff(failures, self.backoff, self.max_backoff, retry_after(outcome)))
                continue
            if failures:
                log.info("watching %s: the service answers again", label(key))
                failures = 0
            assert isinstance(outcome, httpx.Response)
            if outcome.status_code == 200:
                before, seen = seen, value
                document = value.documents if isinstance(value, Snapshot) else value.config
                # A change of comments or of the application alone leaves the document(s) as they were.
                if before is None or _canonical(before) != _canonical(value):
                    yield Notify(on_change, document)
            elif time.monotonic() - started < min(MIN_POLL_SECONDS, wait):
                yield Sleep(MIN_POLL_SECONDS)

    def forget(self, key: Key) -> None:
        """The resource is gone: drop it from memory and disk, so no outage brings it back."""
        with self._lock:
            self._held.pop(key, None)
            self._stale.discard(key)
        if self.cache is not None:
            self.cache.remove(*key)

    def _read_path(self, key: Key) -> str:
        application, name = key
        if name is None:
            return f"{API}/config/{segment(application)}"
        return f"{API}/config/{segment(application)}/{segment(name)}"

    def _parse(self, key: Key, body: bytes, etag: str | None, stale: bool) -> Held:
        data = json.loads(body)
        application, name = key
        if name is None:
            snapshot = Snapshot.from_json(data, etag, stale)
            if snapshot.application.name != application:
                raise ValueError(f"it holds application {snapshot.application.name!r}")
            return snapshot
        view = Configuration.from_json(data, etag, stale)
        if view.name != name:
            raise ValueError(f"it holds configuration {view.name!r}")
        return view

    def _accept(self, key: Key, sent: Held | None, response: httpx.Response) -> Held:
        """The view a response to a (conditional) read gives, now held in memory and on disk."""
        stale = response.headers.get("x-config-stale", "").strip().lower() == "true"
        status = response.status_code
        if status == 304 and sent is not None:
            value = sent if sent.stale == stale else dataclasses.replace(sent, stale=stale)
            with self._lock:
                current = self._held.get(key)
                if current is None or current.etag == sent.etag:  # never replace a newer one
                    self._hold(key, value)
            return value
        if status == 404:
            self.forget(key)
        if status != 200:
            raise error_from(response)
        try:
            value = self._parse(key, response.content, response.headers.get("etag"), stale)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigServiceError(f"unexpected response from the config service: {exc}", status=status) from exc
        with self._lock:
            self._hold(key, value)
        if self.cache is not None:
            self.cache.save(*key, response.content)
        return value

    def _hold(self, key: Key, value: Held) -> None:
        # Called with the lock held.
        self._held[key] = value
        if value.stale:
            self._stale.add(key)
            if key not in self._warned:
                self._warned.add(key)
                log.warning("the config service serves %s from memory: its database is unavailable", label(key))
        else:
            self._stale.discard(key)
            if key in self._warned:
                self._warned.discard(key)
                log.info("the config service answers again: %s is current", label(key))

    def _fall_back(self, key: Key, held: Held | None, error: Unavailable) -> Held:
        """The last-known-good copy (memory first, then disk), marked stale; else the error."""
        source = "memory"
        if held is None:
            held, source = self._from_disk(key), "the disk cache"
        if held is None:
            raise error
        value = held if held.stale else dataclasses.replace(held, stale=True)
        with self._lock:
            self._held[key] = value
            self._stale.add(key)
            first = key not in self._warned
            self._warned.add(key)
        if first:
            version = f"version {value.version}" if isinstance(value, Configuration) else "all configurations"
            log.warning("%s; serving the last-known-good %s (%s) from %s", error, label(key), version, source)
        return value

    def _from_disk(self, key: Key) -> Held | None:
        if self.cache is None:
            return None
        body = self.cache.load(*key)
        if body is None:
            return None
        try:
            # No ETag: a copy from another run (perhaps another database) must not answer 304s.
            return self._parse(key, body, None, True)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring the corrupt config cache file %s: %s", self.cache.path(*key), exc)
            return None
