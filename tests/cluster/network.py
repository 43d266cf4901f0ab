"""Hosts on one machine: a Linux network namespace each, joined by veth pairs to a bridge that
lives in a namespace of its own, so nothing is added to the machine's own network and no
host has a route out of 10.201.0.0/24.

Names carry a per-run id, so parallel runs do not collide; each run holds a lock on its
directory, so that a later run can tell an aborted run's namespaces from a live one's and
remove them. Processes are started in a host with setns(2) in the child before exec, with
PR_SET_PDEATHSIG: if the test process dies, they die with it.
"""

import contextlib
import ctypes
import fcntl
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from infra import postgres_files

SUBNET = "10.201.0"
NETNS_DIR = Path("/run/netns")
PREFIX = "config-service-cluster-"
_PR_SET_PDEATHSIG = 1
# Loaded here, never in a forked child; missing off Linux, where nothing here runs.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None


class NetworkError(Exception):
    """The namespaces could not be made (no permission, no `ip`, no netns support)."""


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")


class Host:
    def __init__(self, network: "Network", name: str, number: int) -> None:
        self.name = name
        self.address = f"{SUBNET}.{number}"
        self.netns = f"{network.id}-{name}"
        self.dir = network.root / name
        self.dir.mkdir()

    def popen(self, argv: list[str], *, user: str | None = None, deathsig: int = signal.SIGKILL, **kwargs):
        """`argv` run in this host's network, as `user` (default: ourselves)."""
        return subprocess.Popen(argv, preexec_fn=_entering(NETNS_DIR / self.netns, user, deathsig), **kwargs)

    def run(self, argv: list[str], *, timeout: float, user: str | None = None, **kwargs) -> subprocess.CompletedProcess:
        with self.popen(argv, user=user, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs) as proc:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)


class Network:
    """A switch and hosts; `close()` removes every namespace and the run's directory."""

    def __init__(self) -> None:
        remove_abandoned()
        self.id = f"cs{uuid.uuid4().hex[:8]}"
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.id}-"))
        self.root.chmod(0o755)  # the database user reaches its hosts' directories
        self._lock = open(self.root / ".lock", "w")  # noqa: SIM115 - held for the run's life
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        (self.root / ".namespaces").write_text("")
        self.hosts: dict[str, Host] = {}
        try:
            self._switch = self._namespace("switch")
            ip("-n", self._switch, "link", "add", "name", "br0", "type", "bridge")
            ip("-n", self._switch, "link", "set", "dev", "br0", "up")
        except BaseException:
            self.close()
            raise

    def add_host(self, name: str, number: int) -> Host:
        host = Host(self, name, number)
        self._namespace(name)
        # One end in the switch, on the bridge; the other is the host's eth0. (`name` and
        # `dev` always spelled out: `ip` would read a host called "a" as "address".)
        ip("-n", self._switch, "link", "add", "name", name, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        ip("-n", self._switch, "link", "set", "dev", name, "master", "br0", "up")
        ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.netns, "link", "set", "dev", "eth0", "up")
        ip("-n", host.netns, "link", "set", "dev", "lo", "up")
        self.hosts[name] = host
        return host

    def unplug(self, host: Host) -> None:
        """Cut `host` off the switch: its peers hear nothing more, not even a reset."""
        ip("-n", self._switch, "link", "set", "dev", host.name, "down")

    def _namespace(self, name: str) -> str:
        netns = f"{self.id}-{name}"
        with open(self.root / ".namespaces", "a") as names:  # written first: removed even if half made
            names.write(netns + "\n")
        ip("netns", "add", netns)
        return netns

    def close(self) -> None:
        _remove(self.root)
        self._lock.close()

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _remove(root: Path) -> None:
    """Delete a run's namespaces (their veths and bridge go with them) and its directory."""
    with contextlib.suppress(FileNotFoundError):
        for netns in (root / ".namespaces").read_text().split():
            if (NETNS_DIR / netns).exists():
                subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)
    shutil.rmtree(root, ignore_errors=True)


def remove_abandoned() -> None:
    """What runs that were killed left behind: a run directory whose lock nobody holds (and
    not one made a moment ago, whose run may not have taken its lock yet)."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError), open(root / ".lock") as lock:
            if time.time() - root.stat().st_mtime < 60:
                continue
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live run
            _remove(root)


def check_support() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "`ip` is missing: install iproute2 (apt-get install -y iproute2)"
    probe = f"cs{uuid.uuid4().hex[:8]}-probe"
    try:
        ip("netns", "add", probe)
    except NetworkError as exc:
        return f"cannot make a network namespace: {exc}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=30)
    return None


def server_user() -> pwd.struct_passwd:
    """Who runs PostgreSQL, which refuses root: the user the embedded server runs as."""
    return pwd.getpwnam(postgres_files.server_user().name)


def own(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _entering(netns: Path, user: str | None, deathsig: int):
    entry = pwd.getpwnam(user) if user else None

    # In the child, before exec: only system calls (the parent may have threads).
    def enter() -> None:
        fd = os.open(netns, os.O_RDONLY)
        os.setns(fd, os.CLONE_NEWNET)
        os.close(fd)
        if entry is not None:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
        _LIBC.prctl(_PR_SET_PDEATHSIG, deathsig)  # after the switch of user, which clears it

    return enter
