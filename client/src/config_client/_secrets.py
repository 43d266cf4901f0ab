"""Secret values in the disk cache. A configuration lists the JSON Pointers of its secret values
(`secrets`); the last-known-good copies on disk hold those values encrypted with a key from
`cache_key=` or CONFIG_CLIENT_CACHE_KEY (AES-256-GCM, which needs the `cryptography` package:
`pip install config-service-client[encrypted-cache]`), or, with no key, not at all: a copy read
back from disk then lacks them (and says so in the log, once)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
from typing import Any

from config_client.errors import ConfigServiceError

log = logging.getLogger("config_client")

KEY_VARIABLE = "CONFIG_CLIENT_CACHE_KEY"
PREFIX = "$cached-secret:v1:"
_INDEX = re.compile("0|[1-9][0-9]{0,8}")
MIN_KEY_LENGTH = 16


def _parts(pointer: str) -> tuple[str, ...] | None:
    if not pointer.startswith("/"):
        return None
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def _outermost(pointers: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    parsed = [(p, parts) for p in dict.fromkeys(pointers) if (parts := _parts(p)) is not None]
    return [
        (p, parts) for p, parts in parsed if not any(len(o) < len(parts) and parts[: len(o)] == o for _, o in parsed)
    ]


def _locate(tree: Any, parts: tuple[str, ...]) -> tuple[Any, Any] | None:
    node = tree
    for n, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            key: Any = part
        elif isinstance(node, list) and _INDEX.fullmatch(part) and int(part) < len(node):
            key = int(part)
        else:
            return None
        if n == len(parts) - 1:
            return node, key
        node = node[key]
    return None


class CacheSecrets:
    """How secret values go to disk and come back: encrypted with the cache key, or left out."""

    def __init__(self, key: str | None = None) -> None:
        if key is None:
            key = os.environ.get(KEY_VARIABLE) or None
        self._cipher = None
        if key is not None:
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigServiceError(f"{KEY_VARIABLE} (cache_key) must be at least {MIN_KEY_LENGTH} characters")
            try:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            except ImportError:
                raise ConfigServiceError(
                    f"{KEY_VARIABLE} (cache_key) needs the cryptography package: "
                    "pip install config-service-client[encrypted-cache]"
                ) from None
            self._cipher = AESGCM(hashlib.sha256(b"config-client-cache/v1\0" + key.encode()).digest())
        self._told: set[str] = set()

    @property
    def encrypts(self) -> bool:
        return self._cipher is not None

    def to_disk(self, body: bytes) -> bytes:
        """A response body as it is written to disk: its secret values encrypted, or left out."""
        data, views = _views(body)
        if not views:
            return body
        for view in views:
            for pointer, parts in _outermost(view["secrets"]):
                found = _locate(view.get("config"), parts)
                if found is None:
                    continue
                container, key = found
                if self._cipher is None:
                    if isinstance(container, dict):
                        del container[key]
                    else:
                        container[key] = None
                    continue
                nonce = os.urandom(12)
                plain = json.dumps(container[key], ensure_ascii=False).encode()
                sealed = self._cipher.encrypt(nonce, plain, _context(view, pointer))
                container[key] = PREFIX + _b64(nonce) + ":" + _b64(sealed)
        return json.dumps(data, ensure_ascii=False).encode()

    def from_disk(self, body: bytes, label: str) -> bytes:
        """A body read from disk as the service sent it: its secret values decrypted (those that
        cannot be are left out)."""
        data, views = _views(body)
        if not views:
            return body
        missing = []
        for view in views:
            for pointer, parts in _outermost(view["secrets"]):
                found = _locate(view.get("config"), parts)
                if found is None:
                    missing.append(pointer)
                    continue
                container, key = found
                value = container[key]
                if isinstance(value, str) and value.startswith(PREFIX) and self._cipher is not None:
                    try:
                        nonce, sealed = value[len(PREFIX) :].split(":")
                        plain = self._cipher.decrypt(_unb64(nonce), _unb64(sealed), _context(view, pointer))
                        container[key] = json.loads(plain)
                        continue
                    except Exception:  # another key, or changed: as if it were not there
                        pass
                missing.append(pointer)
                if isinstance(container, dict):
                    del container[key]
                else:
                    container[key] = None
        if missing and label not in self._told:
            self._told.add(label)
            log.warning(
                "the disk cache's copy of %s is without its secret values (%s): %s",
                label,
                ", ".join(missing[:5]),
                f"set {KEY_VARIABLE} to keep them" if self._cipher is None else "written with another cache key",
            )
        return json.dumps(data, ensure_ascii=False).encode()


def _views(body: bytes) -> tuple[Any, list[dict]]:
    """The body's configuration views that have secret values (a view, or a bundle's)."""
    if b'"secrets"' not in body:
        return None, []
    try:
        data = json.loads(body)
    except ValueError:
        return None, []
    if not isinstance(data, dict):
        return None, []
    views = data.get("configurations") if isinstance(data.get("configurations"), list) else [data]
    return data, [v for v in views if isinstance(v, dict) and isinstance(v.get("secrets"), list) and v["secrets"]]


def _context(view: dict, pointer: str) -> bytes:
    return f"{view.get('id')}\0{pointer}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
