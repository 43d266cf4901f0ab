"""What a watch's callback made of each version it was given, and telling the service.

A watch calls back with a version; the callback applies it, or raises (or the document does not
fit the caller's model). Either way the client reports it (POST /config/{app}/{name}/reports):
a failure of a rollout's new version counts against it, and enough of them roll it back. After
a failure the client keeps serving the last good version of that configuration (`get`, `view`,
`get_all`), until a version applies again (the rolled-back one, say).

Reports are best effort: one attempt each, never retried and never in the way of the watch; a
version's outcome is reported once (the same outcome of the same version, delivered again, is
not sent again).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from typing import Any

import httpx

from config_client._protocol import API, Call, Flow, describe, segment
from config_client._transport import Transport
from config_client.errors import InvalidConfiguration
from config_client.models import Configuration, Snapshot

log = logging.getLogger("config_client")

Key = tuple[str, Any]  # (application, configuration name)
MESSAGE_LIMIT = 1024  # the service's longest report message


def failure_message(error: BaseException) -> str:
    """What a report says of a failure: the exception's type and message; for a document that
    does not fit the model, where and why (never the values found: they may be secrets)."""
    if isinstance(error, InvalidConfiguration):
        text = error.message
        if error.details:
            text += ": " + "; ".join(f"{d.location or '/'}: {d.message}" for d in error.details)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


class Applied:
    """Per configuration: the last view that applied (or was held before the first failure) and
    the version that failed, if one did; and the reports to the service."""

    def __init__(self, transport: Transport, client_id: str) -> None:
        self.transport = transport
        self.client_id = client_id
        self._lock = threading.Lock()
        self._good: dict[Key, Configuration] = {}
        self._failed: dict[Key, int] = {}  # the version whose last delivery failed
        self._warned: set[tuple[Key, int]] = set()
        self._reported: dict[Key, tuple[int, bool]] = {}
        self._report_failing = False  # said once, until a report goes through again

    # -- the outcome of a delivery ---------------------------------------------------------

    def settle(self, key: tuple[str, str | None], before: Any, value: Any, failure: BaseException | None) -> Flow[None]:
        """Notes how the delivery of `value` (after `before`) went and reports it. For a
        configuration, that one; for an application's snapshot, each configuration whose
        version changed (reported only when it is staged: only a rollout makes use of it)."""
        if isinstance(value, Configuration):
            held = before if isinstance(before, Configuration) else None
            delivered = [(key, value, held, True)]
        else:
            assert isinstance(value, Snapshot)
            earlier = before.configurations if isinstance(before, Snapshot) else {}
            delivered = [
                ((key[0], name), view, earlier.get(name), view.release == "staged")
                for name, view in value.configurations.items()
                if name not in earlier or earlier[name].version != view.version or earlier[name].id != view.id
            ]
            if failure is None:  # every configuration of it applied, the unchanged ones too
                with self._lock:
                    for name, view in value.configurations.items():
                        self._applied((key[0], name), view)
        for configuration, view, held, report in delivered:
            with self._lock:
                if failure is None:
                    self._applied(configuration, view)
                else:
                    self._failed[configuration] = view.version
                    if held is not None and held.id == view.id and held.version != view.version:
                        self._good.setdefault(configuration, held)
            if report:
                message = None if failure is None else failure_message(failure)
                yield from self.report(configuration, view.version, failure is None, message)

    def _applied(self, key: Key, view: Configuration) -> None:
        # Called with the lock held.
        self._good[key] = view
        self._failed.pop(key, None)

    def forget(self, key: tuple[str, str | None]) -> None:
        """The configuration (or, name None, the application) is gone."""
        with self._lock:
            for known in [k for k in (*self._good, *self._failed) if k == key or (key[1] is None and k[0] == key[0])]:
                self._good.pop(known, None)
                self._failed.pop(known, None)

    # -- serving the last good version -----------------------------------------------------

    def mend(self, key: tuple[str, str | None], value: Any) -> Any:
        """`value` as this client should serve it: a configuration whose version failed to apply
        replaced by the last good one (when one is known)."""
        if isinstance(value, Configuration):
            return self._good_one(key, value)
        if not isinstance(value, Snapshot) or not self._failed:
            return value
        views = {name: self._good_one((key[0], name), view) for name, view in value.configurations.items()}
        if all(views[name] is view for name, view in value.configurations.items()):
            return value
        return dataclasses.replace(value, configurations=views)

    def _good_one(self, key: Key, view: Configuration) -> Configuration:
        with self._lock:
            if self._failed.get(key) != view.version:
                return view
            good = self._good.get(key)
            if good is None or good.id != view.id:
                return view  # nothing better known
            first = (key, view.version) not in self._warned
            self._warned.add((key, view.version))
        if first:
            log.warning(
                "%s/%s version %d could not be applied; serving version %d, the last that was",
                key[0],
                key[1],
                view.version,
                good.version,
            )
        return good if good.stale == view.stale else dataclasses.replace(good, stale=view.stale)

    # -- reports ---------------------------------------------------------------------------

    def report(self, key: Key, version: int, ok: bool, message: str | None = None) -> Flow[None]:
        """Tells the service whether this client applied `version`: once, no retry (a report
        lost is one failure not counted, never a watch held up)."""
        with self._lock:
            if self._reported.get(key) == (version, ok):
                return
            self._reported[key] = (version, ok)
        application, name = key
        body = {"client_id": self.client_id, "version": version, "ok": ok, "message": message}
        call = Call(
            "POST",
            f"{API}/config/{segment(application)}/{segment(name)}/reports",
            body=json.dumps(body, ensure_ascii=False).encode(),
            idempotent=False,
        )
        outcome = yield from self.transport.ask(call)
        if isinstance(outcome, httpx.Response) and outcome.status_code == 202:
            if self._report_failing:
                self._report_failing = False
                log.info("reports reach the config service again")
            return
        if not self._report_failing:
            self._report_failing = True
            log.warning(
                "could not report version %d of %s/%s: %s (not retried)", version, application, name, describe(outcome)
            )
