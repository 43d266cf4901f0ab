"""Who a client is to the service: its `X-Client-Id`, sent with every read and watch of
/config. A staged configuration's rollout gives each client its version by it (the same id
stays in the same share as the rollout grows), and the fleet view lists it.

The id is `client_id=` when given, else the environment's CONFIG_CLIENT_ID, else
`HOSTNAME/program`: stable across restarts of the same program on the same machine. The
service takes 1 to 128 visible ASCII characters (0x21 to 0x7E): an id given is checked
(ValueError when it is not one); a derived one is made into one (other characters become `_`,
then it is cut to 128).
"""

from __future__ import annotations

import os
import re
import socket
import sys

ENVIRONMENT = "CONFIG_CLIENT_ID"
LONGEST = 128
_VISIBLE = re.compile(r"[\x21-\x7e]{1,128}")
_NOT_VISIBLE = re.compile(r"[^\x21-\x7e]")


def check_client_id(value: str, source: str = "client_id") -> str:
    """`value` when it is 1 to 128 visible ASCII characters; else ValueError naming `source`."""
    if not isinstance(value, str) or not _VISIBLE.fullmatch(value):
        raise ValueError(
            f"{source} must be 1 to {LONGEST} visible ASCII characters (0x21 to 0x7E: no spaces), not {value!r}"
        )
    return value


def sanitise(text: str) -> str:
    """`text` as a valid id: characters outside 0x21 to 0x7E become `_`, cut to 128."""
    return _NOT_VISIBLE.sub("_", text)[:LONGEST] or "_"


def program_name(argv0: str | None = None) -> str:
    """The running program's name: its script's file name without `.py`; for `python -m
    package`, the package's name; `python` when there is no script (`-c`, interactive)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if not argv0 or argv0 == "-c" or argv0 == "-":
        return "python"
    path = os.path.normpath(argv0)
    name = os.path.basename(path)
    if name == "__main__.py":
        name = os.path.basename(os.path.dirname(path)) or "python"
    return name.removesuffix(".py") or "python"


def default_client_id() -> str:
    """`HOSTNAME/program`, made valid (see `sanitise`)."""
    host = os.environ.get("HOSTNAME") or socket.gethostname() or "localhost"
    return sanitise(f"{host}/{program_name()}")


def resolve_client_id(given: str | None) -> str:
    """The id to send: `given`, else CONFIG_CLIENT_ID, else the default; a given one checked."""
    if given is not None:
        return check_client_id(given)
    from_environment = os.environ.get(ENVIRONMENT)
    if from_environment:
        return check_client_id(from_environment, ENVIRONMENT)
    return default_client_id()
