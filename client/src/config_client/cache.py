"""The last-known-good copies on disk: one file per document read, written atomically; secret
values encrypted, or left out (see `_secrets`)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from config_client._secrets import CacheSecrets

log = logging.getLogger("config_client")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class DiskCache:
    """Files under `directory`, named for what they hold (readable part + hash of service URL,
    application and name), each holding the service's response body as it came. Beside a
    configuration's file, one per model it is read as (`model=`): the last version that fit it.

    A write goes to a temporary file in the same directory, is fsynced, and renamed over the
    old one, so a reader (or a crash) never sees half a file. Failures to read or write are
    logged, never raised: the cache must not take its host down. A configuration's secret
    values are written encrypted with the cache key, or not at all (`secrets`).
    """

    def __init__(self, directory: str | os.PathLike[str], base_url: str, secrets: CacheSecrets | None = None) -> None:
        self.directory = Path(directory)
        self._base_url = base_url
        self.secrets = secrets or CacheSecrets()

    def path(self, application: str, name: str | None, model: str | None = None) -> Path:
        """The file of a configuration (or, with `name` None, of all of an application's), or
        of the last version of it that fit `model` (a model's name)."""
        stem = self._stem(application, name)
        if model is None:
            return self.directory / f"{stem}.json"
        tag = hashlib.sha256(model.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return self.directory / f"{stem}.model-{tag}.json"

    def _stem(self, application: str, name: str | None) -> str:
        kind = "one" if name is not None else "all"
        key = "\0".join((kind, self._base_url, application, name or ""))
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        label = _UNSAFE.sub("_", application if name is None else f"{application}--{name}")[:80]
        return f"{label}.{digest}"

    def save(self, application: str, name: str | None, body: bytes, model: str | None = None) -> None:
        final = self.path(application, name, model)
        tmp = None
        body = self.secrets.to_disk(body)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{final.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, final)
            tmp = None
            self._sync_directory()
        except OSError as exc:
            log.warning("cannot write the config cache file %s: %s", final, exc)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def load(self, application: str, name: str | None, model: str | None = None) -> bytes | None:
        """The file's bytes; None when there is none or it cannot be read (logged)."""
        path = self.path(application, name, model)
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("ignoring the config cache file %s: %s", path, exc)
            return None
        return self.secrets.from_disk(body, application if name is None else f"{application}/{name}")

    def remove(self, application: str, name: str | None) -> None:
        """Removes the file, and those of every model it was read as."""
        paths = [self.path(application, name)]
        with contextlib.suppress(OSError):
            paths += self.directory.glob(f"{self._stem(application, name)}.model-*.json")
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()

    def _sync_directory(self) -> None:
        # The rename itself is durable only once the directory is flushed (POSIX).
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
