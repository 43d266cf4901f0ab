"""The keys that seal secret values, and sealing itself.

Keys live in a file named by SECRETS_KEYS (with the embedded database: `secrets.key` beside
`.pgdata/`), never in the database: a dump or a backup of the database holds only ciphertext,
and the file is backed up apart from it. The file is one key a line, `<key id> <key>` (the key
256 random bits in base64url), `#` comments allowed; it must be its owner's alone (mode 0600):
a file others may read is refused. Every key in it opens what it sealed; the LAST one seals
new values, so a rotation appends a key (`pipenv run secrets rotate`) and old ones keep
opening until they are removed.

A sealed value is a JSON string, `$sealed:v1:<key id>:<nonce>:<ciphertext>`: AES-256-GCM with
a random 96-bit nonce per value, the ciphertext (with its tag) in base64url. What it seals is
the value's JSON text as written. The associated data binds it to its place: the
configuration's id and the JSON Pointer of the value, so a sealed value copied to another
place (another key, another configuration) does not open there.

A `Keyring` is shared by the write side (sealing) and the read side (opening); `reload` reads
the file again (a rotation announced through the database), replacing what is held at once.
"""

import base64
import binascii
import contextlib
import datetime
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "$sealed:v1:"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
HEADER = (
    "# Config Service secret keys (SECRETS_KEYS). Keep this file mode 0600, and back it up apart from the\n"
    "# database: without it, the secret values in the database (and in its backups) cannot be read.\n"
    "# One key a line: <key id> <key>. Every key opens what it sealed; the last one seals new values.\n"
)


class KeyFileError(Exception):
    """The key file cannot be used; the message says what to do."""


class NoKeys(Exception):
    """No key is loaded: nothing can be sealed or opened."""


class Unsealable(Exception):
    """A sealed value that does not open: its key is not loaded, or it was changed or moved."""


@dataclass(frozen=True)
class _Keys:
    by_id: dict[str, AESGCM]
    sealing: str | None  # the id of the key that seals


class Keyring:
    """The keys loaded (from `path`, or none), held whole and replaced whole on `reload`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._keys = _Keys({}, None)
        if path is not None:
            self.reload()

    @classmethod
    def of(cls, keys: list[tuple[str, bytes]]) -> "Keyring":
        """A keyring of these (id, key) pairs, the last one sealing (for tests and tools)."""
        ring = cls()
        ring._keys = _Keys({id: AESGCM(key) for id, key in keys}, keys[-1][0] if keys else None)
        return ring

    def reload(self) -> tuple[str, ...]:
        """Reads the file again; the ids of the keys now loaded. KeyFileError when it cannot."""
        assert self.path is not None
        pairs = read_key_file(self.path)
        self._keys = _Keys({id: AESGCM(key) for id, key in pairs}, pairs[-1][0])
        return self.ids

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._keys.by_id)

    @property
    def sealing_id(self) -> str | None:
        return self._keys.sealing

    def __bool__(self) -> bool:
        return self._keys.sealing is not None

    def seal(self, plaintext: str, context: bytes) -> str:
        """The sealed string of `plaintext` (a value's JSON text) at `context`."""
        keys = self._keys
        if keys.sealing is None:
            raise NoKeys("no secret key is loaded (SECRETS_KEYS)")
        nonce = os.urandom(NONCE_BYTES)
        sealed = keys.by_id[keys.sealing].encrypt(nonce, plaintext.encode(), context)
        return f"{PREFIX}{keys.sealing}:{_b64(nonce)}:{_b64(sealed)}"

    def open(self, sealed: str, context: bytes) -> str:
        """The plaintext a sealed string holds; Unsealable when it does not open here."""
        try:
            key_id, nonce, ciphertext = sealed[len(PREFIX) :].split(":")
            key = self._keys.by_id.get(key_id)
            if key is None:
                raise Unsealable(f"sealed by key {key_id!r}, which is not loaded (SECRETS_KEYS)")
            return key.decrypt(_unb64(nonce), _unb64(ciphertext), context).decode()
        except (ValueError, binascii.Error, InvalidTag):
            raise Unsealable("a sealed value that does not open: changed, or moved from elsewhere") from None


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(sealed: str) -> str:
    return sealed[len(PREFIX) :].split(":", 1)[0]


def context(configuration_id: str, pointer: str) -> bytes:
    """What binds a sealed value to its place (AES-GCM's associated data)."""
    return f"config-service/v1\0{configuration_id}\0{pointer}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the key file ---------------------------------------------------------------------------


def new_key_id() -> str:
    """A key's id: the day it was made and a random part (ids never repeat)."""
    return f"{datetime.datetime.now(datetime.UTC):%Y%m%d}-{secrets.token_hex(4)}"


def new_key_line() -> tuple[str, str]:
    """(id, line) of a new key."""
    id = new_key_id()
    return id, f"{id} {_b64(os.urandom(KEY_BYTES))}\n"


def read_key_file(path: Path) -> list[tuple[str, bytes]]:
    """The (id, key) pairs of a key file, in order; KeyFileError for one that cannot be used."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise KeyFileError(
            f"SECRETS_KEYS names {path}, which does not exist: make it with `pipenv run secrets keygen --file {path}`"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read the secret keys in {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise KeyFileError(f"{path} is not a plain file: SECRETS_KEYS must name the key file")
        if status.st_mode & 0o077:
            raise KeyFileError(
                f"{path} may be read or written by others (mode {stat.S_IMODE(status.st_mode):04o}): "
                f"secret keys must be their owner's alone; `chmod 600 {path}`"
            )
        text = file.read(1 << 20).decode("utf-8", "replace")
    pairs: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        key = None
        if len(parts) == 2 and _KEY_ID.fullmatch(parts[0]):
            try:
                key = _unb64(parts[1])
            except (ValueError, binascii.Error):
                key = None
        if key is None or len(key) != KEY_BYTES:
            raise KeyFileError(f"{path}, line {number}: not `<key id> <256-bit key in base64url>`")
        if any(id == parts[0] for id, _ in pairs):
            raise KeyFileError(f"{path}, line {number}: key id {parts[0]!r} appears twice")
        pairs.append((parts[0], key))
    if not pairs:
        raise KeyFileError(f"{path} holds no key: add one with `pipenv run secrets rotate`")
    return pairs


def create_key_file(path: Path) -> str:
    """A new key file with one key, made 0600 and never over an existing file; the key's id."""
    id, line = new_key_line()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists already: add a key to it with `pipenv run secrets rotate`") from None
    with os.fdopen(fd, "w") as file:
        file.write(HEADER + line)
        file.flush()
        os.fsync(fd)
    return id


def add_key(path: Path) -> str:
    """Appends a new key (the sealing key from now on) to the key file, atomically: a new 0600
    file takes the old one's place. The new key's id."""
    read_key_file(path)  # a file that cannot be used is not written to
    target = path.resolve()  # the file itself, where a link (a mounted secret, say) leads
    old = target.read_text()
    id, line = new_key_line()
    staging = target.with_name(f".{target.name}.new")
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()  # an interrupted rotation's; unlink never follows a symlink
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(old + ("" if old.endswith("\n") else "\n") + line)
        file.flush()
        os.fsync(fd)
    os.replace(staging, target)
    return id


def embedded_key_file(pg_data_dir: Path) -> Path:
    """Where the embedded database's key file is: beside its folder, not inside it (a copy of
    the folder is then no copy of the key)."""
    return pg_data_dir.resolve().parent / "secrets.key"


def key_file(secrets_keys: Path | None, database_url: str | None, pg_data_dir: Path) -> Path | None:
    """The key file in use: SECRETS_KEYS; else the embedded database's, if it has one."""
    if secrets_keys is not None:
        return secrets_keys
    if database_url:
        return None
    path = embedded_key_file(pg_data_dir)
    return path if path.exists() else None


def ensure_key_file(path: Path) -> str | None:
    """Makes the key file if there is none yet; the new key's id, or None when it existed."""
    if path.exists() or path.is_symlink():
        return None
    try:
        return create_key_file(path)
    except KeyFileError:  # made meanwhile by another start
        return None
