"""What both clients share for reading: the documents held in memory and on disk, and the read
flows (see `_protocol`). Settings and sending are in `_transport`, the admin flows in `_admin`,
what the watches' callbacks made of each version (and the reports of it) in `_applied`."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from config_client._applied import Applied
from config_client._identity import resolve_client_id
from config_client._protocol import (
    API,
    Call,
    Flow,
    Notify,
    Sleep,
    Work,
    backoff,
    describe,
    error_from,
    gone,
    retry_after,
    segment,
)
from config_client._secrets import CacheSecrets
from config_client._transport import Transport
from config_client._typed import Models
from config_client.cache import DiskCache
from config_client.errors import ConfigServiceError, InvalidConfiguration, Unavailable
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


def _older(new: Held, held: Held) -> bool:
    """Whether `new` is surely an earlier state than `held`: versions only grow (but for a
    staged configuration, whose rollout may move a client back). A view is
    compared by its version; an application's snapshot by the application's version and the
    versions of the configurations both hold (one consistent read: if any is behind, all of
    it is). A snapshot that differs only in which configurations it has cannot be ordered
    (one created, or one deleted?): it is not called older."""
    if isinstance(new, Configuration) and isinstance(held, Configuration):
        # A staged configuration's client may be moved back (a rollback): its versions can fall.
        staged = "staged" in (new.release, held.release)
        return new.id == held.id and not staged and new.version < held.version
    if isinstance(new, Snapshot) and isinstance(held, Snapshot):
        if new.application.id != held.application.id:
            return False
        before = {view.id: view.version for view in held.configurations.values()}
        pairs = [(new.application.version, held.application.version)]
        pairs += [(view.version, before[view.id]) for view in new.configurations.values() if view.id in before]
        return any(ours < theirs for ours, theirs in pairs) and not any(ours > theirs for ours, theirs in pairs)
    return False


class Core(Transport):
    def __init__(
        self,
        base_url: str,
        token: str | None,
        cache_dir: str | os.PathLike[str] | None,
        timeout: float,
        retries: int,
        backoff: float,
        max_backoff: float,
        client_id: str | None = None,
        cache_key: str | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout, retries, backoff, max_backoff)
        # Sent with every read and watch of /config: a rollout's share is decided by it.
        self.client_id = resolve_client_id(client_id)
        self.cache = None
        if cache_dir is not None:  # secret values go to disk encrypted, or not at all
            self.cache = DiskCache(cache_dir, self.base_url, CacheSecrets(cache_key))
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()  # one cache file write (or removal) at a time
        self._held: dict[Key, Held] = {}
        # When each held copy was stored, on the clock `_ticks` (under the lock): a response
        # to a request sent before a newer copy was stored must not put back an older one.
        self._ticks = itertools.count(1)
        self._stored_at: dict[Key, int] = {}
        self._stale: set[Key] = set()
        self._warned: set[Key] = set()  # keys whose outage was logged, until they are fresh again
        self.models = Models(self.cache, self._save_lock)  # what is known of the documents read as models
        self.applied = Applied(self, self.client_id)

    @property
    def stale(self) -> bool:
        with self._lock:
            return bool(self._stale)

    # -- reading by name --------------------------------------------------------------

    def read(self, key: Key) -> Flow[Held]:
        """The current view of a configuration (or an application's snapshot): a conditional
        request when one is held; the last-known-good copy when the service cannot answer. A
        version a watch's callback failed to apply is replaced by the last one it applied."""
        with self._lock:
            held = self._held.get(key)
            sent_at = next(self._ticks)
        try:
            response = yield from self.send(Call("GET", self._read_path(key), headers=self._read_headers(held)))
        except Unavailable as exc:
            return self.applied.mend(key, (yield from self._fall_back(key, exc)))
        return self.applied.mend(key, (yield from self._accept(key, held, response, sent_at)))

    def _read_headers(self, held: Held | None) -> dict[str, str]:
        headers = {"X-Client-Id": self.client_id}
        if held is not None and held.etag:
            headers["If-None-Match"] = held.etag
        return headers

    def watch(self, key: Key, on_change: Callable[[Any], Any], wait: float, model: type | None = None) -> Flow[None]:
        """Long-polls until stopped (its driver cancels it), calling back with the document (or
        the documents by name) on every change; with `model`, with an instance of it, skipping
        a document that does not fit (see `Models.typed`). It resumes from the version it saw
        last, or from the one the client held when it began; a change while the watch was
        failing is delivered when it is back. How each delivery went (the callback returned,
        raised, or the document did not fit) is noted and reported (see `Applied`)."""
        seen = self._held.get(key)
        failures = 0
        path = self._read_path(key)
        while True:
            headers = self._read_headers(seen)
            call = Call("GET", path, params={"wait": wait}, headers=headers, read_timeout=wait + self.timeout)
            started = time.monotonic()
            with self._lock:
                sent_at = next(self._ticks)
            outcome = yield from self.ask(call)
            value: Held | None = None
            if isinstance(outcome, httpx.Response) and outcome.status_code in (200, 304):
                try:
                    value = yield from self._accept(key, seen, outcome, sent_at)
                except ConfigServiceError as exc:
                    outcome = httpx.DecodingError(f"unreadable response: {exc}")
            if value is None:
                failures += 1
                if failures == 1:
                    log.warning("watching %s: %s; retrying with backoff", label(key), describe(outcome))
                if isinstance(outcome, httpx.Response) and gone(outcome):
                    yield from self.forget(key)
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
                    failure: BaseException | None
                    if model is None:
                        failure = yield Notify(on_change, document)
                    else:
                        assert isinstance(value, Configuration)
                        try:
                            instance, failure = yield from self.models.typed(key, model, value)
                        except InvalidConfiguration as exc:  # logged; and there is nothing good to call back with
                            failure = exc
                        if failure is None:
                            failure = yield Notify(on_change, instance)
                    yield from self.applied.settle(key, before, value, failure)
            elif time.monotonic() - started < min(MIN_POLL_SECONDS, wait):
                yield Sleep(MIN_POLL_SECONDS)

    def forget(self, key: Key) -> Flow[None]:
        """The resource is gone: drop it from memory and disk (as every model too), so no
        outage brings it back."""
        with self._lock:
            self._held.pop(key, None)
            self._stored_at.pop(key, None)
            self._stale.discard(key)
        self.models.forget(key)
        self.applied.forget(key)
        if self.cache is not None:
            yield Work(functools.partial(self._remove_file, key))

    def _remove_file(self, key: Key) -> None:
        assert self.cache is not None
        with self._save_lock:
            with self._lock:
                if key in self._held:  # held again since it was forgotten: its own save writes it
                    return
            self.cache.remove(*key)

    def _save_file(self, key: Key, value: Held, body: bytes) -> None:
        """Writes `body` (the response that gave `value`) to the cache file, unless another
        version is held by now (or none): the file follows what is held, never goes back."""
        assert self.cache is not None
        with self._save_lock:
            with self._lock:
                current = self._held.get(key)
                if current is None or current.etag != value.etag:
                    return
            self.cache.save(*key, body)

    # -- reading as a model -------------------------------------------------------------

    def read_as(self, key: Key, model: type) -> Flow[Any]:
        """The configuration's document as an instance of `model` (see `Models.typed`)."""
        view = yield from self.read(key)
        assert isinstance(view, Configuration)
        instance, _ = yield from self.models.typed(key, model, view)
        return instance

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

    def _accept(self, key: Key, sent: Held | None, response: httpx.Response, sent_at: int) -> Flow[Held]:
        """The view a response to a (conditional) read gives, now held in memory and on disk;
        or the one held, when it was stored after this request went out and is newer (a
        watch's, say): what is held never goes back to an older version."""
        stale = response.headers.get("x-config-stale", "").strip().lower() == "true"
        status = response.status_code
        if status == 304 and sent is not None:
            value = sent if sent.stale == stale else dataclasses.replace(sent, stale=stale)
            with self._lock:
                current = self._held.get(key)
                if current is None or current.etag == sent.etag:  # never replace a newer one
                    self._hold(key, value)
            return value
        if gone(response):  # the service's own 404: a proxy's or another server's is no proof
            yield from self.forget(key)
        if status != 200:
            raise error_from(response)
        try:
            value = self._parse(key, response.content, response.headers.get("etag"), stale)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigServiceError(f"unexpected response from the config service: {exc}", status=status) from exc
        with self._lock:
            current = self._held.get(key)
            if (
                current is not None
                and current.etag is not None  # not a copy from disk (perhaps of another database)
                and self._stored_at.get(key, 0) > sent_at
                and _older(value, current)
            ):
                return current
            self._hold(key, value)
        if self.cache is not None:
            yield Work(functools.partial(self._save_file, key, value, response.content))
        return value

    def _hold(self, key: Key, value: Held) -> None:
        # Called with the lock held.
        self._held[key] = value
        self._stored_at[key] = next(self._ticks)
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

    def _fall_back(self, key: Key, error: Unavailable) -> Flow[Held]:
        """The last-known-good copy (memory first, then disk), marked stale; else the error.
        What is held now, not what was when the read began: a watch may have stored a newer
        one meanwhile."""
        source = "memory"
        with self._lock:
            held = self._held.get(key)
        if held is None:
            held, source = (yield from self._from_disk(key)), "the disk cache"
        if held is None:
            raise error
        value = held if held.stale else dataclasses.replace(held, stale=True)
        with self._lock:
            current = self._held.get(key)
            if current is not None and current is not held and current.etag is not None:
                return current  # stored while this read failed: newer, and the service's own
            self._held[key] = value
            self._stale.add(key)
            first = key not in self._warned
            self._warned.add(key)
        if first:
            version = f"version {value.version}" if isinstance(value, Configuration) else "all configurations"
            log.warning("%s; serving the last-known-good %s (%s) from %s", error, label(key), version, source)
        return value

    def _from_disk(self, key: Key) -> Flow[Held | None]:
        if self.cache is None:
            return None
        body = yield Work(functools.partial(self.cache.load, *key))
        if body is None:
            return None
        try:
            # No ETag: a copy from another run (perhaps another database) must not answer 304s.
            return self._parse(key, body, None, True)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring the corrupt config cache file %s: %s", self.cache.path(*key), exc)
            return None
