"""The embedded cluster's files, and the user its server runs as.

PostgreSQL refuses to run as root, so under root the server runs as an unprivileged user: an
existing `postgres`, else a dedicated system user `config-service-pg`, created here (never
`nobody`, which other daemons share). That user must not be able to make root read, write or
hand over any other file, so:

- The cluster's root folder (PG_DATA_DIR) is the service user's, mode 0700. It holds the
  server log and the two password files, each created with O_CREAT | O_EXCL | O_NOFOLLOW at
  0600 and always opened with O_NOFOLLOW: nothing is chmodded or chowned after the fact, and
  a symlink where one of them should be stops the start with one line.
- Only the data folder (root/data) is the server user's, and that user cannot pass through
  the 0700 root folder. It never needs to: root enters the data folder (`cwd`, before the
  switch to that user) and gives initdb and the server `-D /proc/self/cwd`, their own working
  directory, which the kernel resolves without walking the path above it. A group or an ACL
  granting passage would leave the root folder at 0710, and a data folder beside the root
  folder would split one cluster in two; this keeps both the modes and the single folder.
- The server's stdout and stderr are the log file, opened by root and handed over as open
  files; initdb reads the superuser's password from a pipe (`--pwfile=/dev/stdin`).
- Files in the data folder that root reads or rewrites (pg_hba.conf, postmaster.pid) are
  opened with O_NOFOLLOW too: they belong to the server user.

A root folder laid out by earlier versions (the server user's, mode 0755, its log 0644, maybe
a data folder of `nobody`'s) is taken back at the next start, its data kept.
"""

import contextlib
import errno
import functools
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

LOG = "postgres.log"
SUPERUSER_PASSWORD = "password"
SERVICE_PASSWORD = "service-password"
DATA = "data"
# All that a root folder of an earlier version held (it belonged to the server user then).
EARLIER_LAYOUT = {DATA, LOG, SUPERUSER_PASSWORD, ".initdb-password"}
DEDICATED_USER = "config-service-pg"


class PostgresError(Exception):
    """The local server could not be provided; the message says what to do."""


# -- who runs the server ----------------------------------------------------------------


class ServerUser:
    """Who runs the server: ourselves, or an unprivileged user when we are root."""

    def __init__(self, entry: pwd.struct_passwd | None) -> None:
        self.entry = entry
        self.name = entry.pw_name if entry else _user_name(os.geteuid())
        self.uid = entry.pw_uid if entry else os.geteuid()
        self.gid = entry.pw_gid if entry else os.getegid()

    @property
    def switches(self) -> bool:
        return self.entry is not None

    def popen_kwargs(self, data_dir: Path) -> dict:
        """Runs a PostgreSQL program in the data folder, as this user."""
        if not self.switches:
            return {"cwd": data_dir}
        # The working directory is entered before the switch: the root folder stays shut.
        return {"cwd": data_dir, "user": self.uid, "group": self.gid, "extra_groups": []}

    def data_dir_argument(self, data_dir: Path) -> str:
        """What to pass as `-D` to a program started with `popen_kwargs(data_dir)`."""
        return "/proc/self/cwd" if self.switches else str(data_dir)

    def give(self, fd: int) -> None:
        """Hands a file or folder we hold open over to this user."""
        if self.switches:
            os.fchown(fd, self.uid, self.gid)


@functools.cache
def server_user() -> ServerUser:
    if os.geteuid() != 0:
        return ServerUser(None)
    with contextlib.suppress(KeyError):
        return ServerUser(pwd.getpwnam("postgres"))
    return ServerUser(dedicated_user(DEDICATED_USER))


def dedicated_user(name: str) -> pwd.struct_passwd:
    """The system user `name`, created (no home, no login shell) when missing."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    command = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    command += ["--shell", "/usr/sbin/nologin", name]
    # Not only PATH: cron and `env -i` leave out the sbin folders.
    useradd = shutil.which("useradd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    reason = "useradd is missing"
    if useradd is not None:
        result = subprocess.run([useradd, *command[1:]], capture_output=True, text=True, timeout=60)
        reason = (result.stderr.strip().splitlines() or [f"useradd exited with {result.returncode}"])[-1]
    with contextlib.suppress(KeyError):  # made here, or by another process starting meanwhile
        return pwd.getpwnam(name)
    raise PostgresError(
        f"running as root, PostgreSQL needs an unprivileged user of its own and {name!r} could not be "
        f"created ({reason}): create it with `{shlex.join(command)}`"
    )


# -- the root folder --------------------------------------------------------------------


def prepare_root(root: Path, user: ServerUser) -> None:
    """Makes the root folder, or takes it back from an earlier version, as the service
    user's (0700); refuses symlinks where its files go; makes the data folder the server
    user's (empty when new)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    fd = _open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        status = os.fstat(fd)
        if status.st_uid != os.geteuid():
            _take_back(root, fd, status)
        if stat.S_IMODE(status.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    # From here on only the service user can change what the root folder holds.
    for name in (LOG, SUPERUSER_PASSWORD, SERVICE_PASSWORD, DATA):
        if (root / name).is_symlink():
            raise _symlink_refused(root / name)
    with contextlib.suppress(FileNotFoundError):
        (root / ".initdb-password").unlink()  # an earlier version's hand-over, left by a crash
    _prepare_data_folder(root / DATA, user)


def _take_back(root: Path, fd: int, status: os.stat_result) -> None:
    owner = _user_name(status.st_uid)
    if os.geteuid() != 0 or not set(os.listdir(fd)) <= EARLIER_LAYOUT:
        raise PostgresError(
            f"{root} belongs to {owner}, not to {_user_name(os.geteuid())}, and is not a cluster folder of an "
            "earlier version: set PG_DATA_DIR to a folder of the service user's, or a new one"
        )
    log.warning("taking the cluster folder %s back from %s (an earlier version gave it to the server)", root, owner)
    os.fchown(fd, os.geteuid(), os.getegid())


def _prepare_data_folder(data: Path, user: ServerUser) -> None:
    try:
        status = os.lstat(data)
    except FileNotFoundError:
        data.mkdir(mode=0o700)
        fd = _open(data, os.O_RDONLY | os.O_DIRECTORY)
        try:
            user.give(fd)
        finally:
            os.close(fd)
        return
    if not stat.S_ISDIR(status.st_mode):
        raise PostgresError(f"{data} is not a folder: move it away to start a new cluster")
    if user.switches and status.st_uid != user.uid:
        # E.g. a cluster of `nobody`'s: the server only runs on a data folder of its own.
        log.warning("handing the data folder %s over from %s to %s", data, _user_name(status.st_uid), user.name)
        for _, _, files, dir_fd in os.fwalk(data, follow_symlinks=False):
            os.fchown(dir_fd, user.uid, user.gid)
            for name in files:
                os.chown(name, user.uid, user.gid, dir_fd=dir_fd, follow_symlinks=False)


# -- files in the root folder -----------------------------------------------------------


def open_log(path: Path) -> int:
    """The server log, open for appending (made 0600 when missing). A log of an earlier
    version (the server user's, 0644) is copied into a new one first."""
    with contextlib.suppress(FileNotFoundError):
        kind = os.lstat(path).st_mode
        if stat.S_ISLNK(kind):
            raise _symlink_refused(path)
        if not stat.S_ISREG(kind):  # a FIFO would block the start
            raise PostgresError(f"{path} is not a plain file: remove it")
    fd = _open_or_create(path, os.O_WRONLY | os.O_APPEND)
    if _private(os.fstat(fd)):
        return fd
    os.close(fd)
    _copy_into_new_file(path)
    fd = _open(path, os.O_WRONLY | os.O_APPEND)
    _require_private(fd, path)
    return fd


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        fd = _open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, PostgresError):
        return "(no log)"
    with os.fdopen(fd, "rb") as log_in:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "(no log)"
        size = os.fstat(fd).st_size
        log_in.seek(max(0, size - 8192))
        return " | ".join(log_in.read().decode(errors="replace").strip().splitlines()[-lines:])


def read_secret(path: Path) -> str | None:
    """A password kept in the root folder; None when there is none yet."""
    try:
        fd = _open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with os.fdopen(fd) as secret:
        _require_private(fd, path)
        return secret.read().strip()


def write_secret(path: Path, value: str) -> None:
    """Keeps a password in a new 0600 file that then takes the place of the old one."""
    staging = path.with_name(f".{path.name}.new")
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()  # an interrupted write's; unlink never follows a symlink
    fd = _open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
        out.flush()
        os.fsync(fd)
    os.replace(staging, path)


def _copy_into_new_file(path: Path) -> None:
    source = _open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(source, "rb") as old:
        if not stat.S_ISREG(os.fstat(source).st_mode):  # swapped since open_log looked
            raise PostgresError(f"{path} is not a plain file: remove it")
        log.warning("%s was readable by others or not %s's: its lines move to a new 0600 file", path, _me())
        staging = path.with_name(f".{path.name}.new")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        with os.fdopen(_open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as new:
            shutil.copyfileobj(old, new)
    os.replace(staging, path)


# -- files in the data folder (the server user's) ---------------------------------------


def read_server_file(path: Path) -> str:
    fd = _open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd) as server_file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PostgresError(f"{path} is not a plain file: the cluster in {path.parent} is damaged")
        return server_file.read()


def rewrite_server_file(path: Path, text: str) -> None:
    """Replaces a file's content in place: it keeps its owner (the server user)."""
    fd = _open(path, os.O_WRONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "w") as server_file:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_nlink != 1:
            raise PostgresError(f"{path} is not a plain file: the cluster in {path.parent} is damaged")
        os.ftruncate(fd, 0)
        server_file.write(text)


# -- opening without following symlinks --------------------------------------------------


def _open(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        # O_NOFOLLOW: ELOOP on a symlink; O_CREAT | O_EXCL: EEXIST, also on a dangling one.
        if exc.errno in (errno.ELOOP, errno.EEXIST) and path.is_symlink():
            raise _symlink_refused(path) from None
        raise


def _open_or_create(path: Path, flags: int) -> int:
    try:
        return _open(path, flags)
    except FileNotFoundError:
        try:
            return _open(path, flags | os.O_CREAT | os.O_EXCL)
        except FileExistsError:  # made meanwhile by another start: open that one
            return _open(path, flags)


def _symlink_refused(path: Path) -> PostgresError:
    return PostgresError(
        f"{path} is a symbolic link, where a file of the cluster's should be: refusing to start; "
        "remove the link (and find out who made it)"
    )


def _private(status: os.stat_result) -> bool:
    return (
        stat.S_ISREG(status.st_mode)
        and status.st_uid == os.geteuid()
        and not status.st_mode & 0o077
        and status.st_nlink == 1
    )


def _require_private(fd: int, path: Path) -> None:
    status = os.fstat(fd)
    if not _private(status):
        kind = "a plain file" if stat.S_ISREG(status.st_mode) else "not a plain file"
        raise PostgresError(
            f"{path} should be a plain file of {_me()}'s alone (mode 0600, one link); it is {kind} of "
            f"{_user_name(status.st_uid)}'s, mode {stat.S_IMODE(status.st_mode):04o}, {status.st_nlink} link(s): "
            "find out how, then fix or remove it"
        )


def _me() -> str:
    return _user_name(os.geteuid())


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
