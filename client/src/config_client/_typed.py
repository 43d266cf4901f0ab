"""Documents as instances of the caller's model: a pydantic v2 model, or any class with a
`model_validate` class method. Nothing here imports pydantic (the distribution depends on httpx
only): a model is used through `model_validate`, and its errors through `errors()` if it has one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading
from typing import Any, TypeVar

from config_client._protocol import Flow, Work
from config_client.cache import DiskCache
from config_client.errors import ErrorDetail, InvalidConfiguration
from config_client.models import Configuration

log = logging.getLogger("config_client")

M = TypeVar("M")
Key = tuple[str, Any]  # (application, configuration name)
Slot = tuple[Key, type]  # a configuration read as a model


def check_model(model: Any) -> None:
    """TypeError unless `model` is a class with `model_validate`."""
    if not isinstance(model, type) or not callable(getattr(model, "model_validate", None)):
        raise TypeError(f"model must be a class with model_validate (a pydantic v2 model), not {model!r}")


def check_watched_model(name: str | None, model: type | None) -> None:
    """TypeError unless `model` is None, or a model (see `check_model`) of a configuration
    named: an application's configurations need not share one."""
    if model is not None:
        check_model(model)
        if name is None:
            raise TypeError("watch(model=...) reads one configuration: give its name")


def model_id(model: type) -> str:
    """A name for `model` that stays the same from one run to the next (for its cache file)."""
    return f"{model.__module__}.{model.__qualname__}"


def fit(model: type[M], application: str, view: Configuration) -> M:
    """`view`'s document as an instance of `model`; InvalidConfiguration when it does not fit."""
    try:
        return model.model_validate(view.config)  # type: ignore[attr-defined]
    except Exception as exc:  # whatever the model raises, the document does not fit it
        errors = _errors(exc)
        # Not chained: pydantic's own error shows the values found, which may be secrets.
        raise InvalidConfiguration(
            f"configuration {application}/{view.name} version {view.version} does not fit {model.__qualname__}",
            application=application,
            name=view.name,
            version=view.version,
            model=model,
            errors=errors,
            details=tuple(ErrorDetail(_pointer(e.get("loc", ())), str(e.get("msg", ""))) for e in errors),
        ) from None


def _again(error: InvalidConfiguration) -> InvalidConfiguration:
    # A new one for each raise: one exception raised again and again grows its traceback.
    return InvalidConfiguration(
        error.message,
        application=error.application,
        name=error.name,
        version=error.version,
        model=error.model,
        errors=error.errors,
        details=error.details,
    )


def _errors(exc: Exception) -> tuple[dict[str, Any], ...]:
    # pydantic's ValidationError has errors(); the input values are left out (they may be
    # secrets, and they end up in logs).
    reported = None
    if callable(getattr(exc, "errors", None)):
        try:
            reported = exc.errors()  # type: ignore[attr-defined]
        except Exception:
            reported = None
    if isinstance(reported, list) and reported and all(isinstance(e, dict) for e in reported):
        return tuple({k: v for k, v in e.items() if k not in ("input", "url")} for e in reported)
    return ({"loc": (), "msg": f"{type(exc).__name__}: {exc}", "type": type(exc).__name__},)


def _pointer(loc: Any) -> str:
    """A pydantic `loc` (keys and list positions) as a JSON Pointer."""
    if not isinstance(loc, (tuple, list)):
        loc = (loc,)
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in loc)


def view_json(view: Configuration) -> bytes:
    """`view` as the service sends it (what `Configuration.from_json` reads back)."""
    fields = {f.name: getattr(view, f.name) for f in dataclasses.fields(view) if f.name not in ("etag", "stale")}
    return json.dumps(fields, ensure_ascii=False).encode()


class Models:
    """What a client knows of the configurations it reads as models: for each configuration and
    model, the last view that fit (with its instance), in memory and in the cache directory;
    and the last document that did not (with why), so that a document seen before is neither
    validated nor logged again."""

    def __init__(self, cache: DiskCache | None, save_lock: threading.Lock) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        # The client's lock of cache files: a save never lands after the removal of a
        # configuration that is gone.
        self._save_lock = save_lock
        self._good: dict[Slot, tuple[Configuration, Any]] = {}
        self._refused: dict[Slot, tuple[dict[str, Any], InvalidConfiguration]] = {}

    def typed(self, key: Key, model: type, view: Configuration) -> Flow[tuple[Any, InvalidConfiguration | None]]:
        """(instance, None) when `view`'s document fits `model`: it becomes the last good value,
        in memory and on disk. Otherwise (the last good value, why it does not fit), the reason
        logged once per document; InvalidConfiguration when none is known."""
        slot = (key, model)
        with self._lock:
            good, refused = self._good.get(slot), self._refused.get(slot)
        if good is not None and good[0].config is view.config:  # the same document (a 304)
            return good[1], None
        if refused is not None and refused[0] is view.config:
            error, first = refused[1], False
        else:
            try:
                instance = fit(model, key[0], view)
            except InvalidConfiguration as exc:
                error, first = exc.with_traceback(None), True  # kept: without the frames it was raised in
                with self._lock:
                    self._refused[slot] = (view.config, error)
            else:
                with self._lock:
                    self._good[slot] = (view, instance)
                if self.cache is not None:
                    yield Work(functools.partial(self._save, slot, view))
                return instance, None
        kept = yield from self._last_good(slot)
        if first:
            log.warning(
                "%s; %s", error, f"keeping version {kept[0].version}" if kept else "no version that fits is known"
            )
        if kept is None:
            raise _again(error)
        return kept[1], error

    def forget(self, key: Key) -> None:
        """The configuration is gone: drop what is held of it (its files go with its own)."""
        with self._lock:
            for slot in [slot for slot in (*self._good, *self._refused) if slot[0] == key]:
                self._good.pop(slot, None)
                self._refused.pop(slot, None)

    def _last_good(self, slot: Slot) -> Flow[tuple[Configuration, Any] | None]:
        """The last view that fit the model, with its instance: from memory, else from disk
        (checked again: the model may have changed since it was written)."""
        with self._lock:
            good = self._good.get(slot)
        if good is not None or self.cache is None:
            return good
        key, model = slot
        body = yield Work(functools.partial(self.cache.load, *key, model=model_id(model)))
        if body is None:
            return None
        try:
            view = Configuration.from_json(json.loads(body), None, True)
            if view.name != key[1]:
                raise ValueError(f"it holds configuration {view.name!r}")
            instance = fit(model, key[0], view)
        except (ValueError, KeyError, TypeError, AttributeError, InvalidConfiguration) as exc:
            log.warning("ignoring the config cache file %s: %s", self.cache.path(*key, model=model_id(model)), exc)
            return None
        with self._lock:
            return self._good.setdefault(slot, (view, instance))

    def _save(self, slot: Slot, view: Configuration) -> None:
        """Writes `view` as the last good one of its model, unless another is held by now."""
        assert self.cache is not None
        with self._save_lock:
            with self._lock:
                current = self._good.get(slot)
                if current is None or current[0] is not view:
                    return
            key, model = slot
            self.cache.save(*key, view_json(view), model=model_id(model))
