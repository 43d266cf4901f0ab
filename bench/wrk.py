"""wrk: installed when missing, driven by small Lua scripts, its report parsed."""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Each thread gets a tag, reads the paths (or ids) once, and picks one at random per request.
_LINES = """
local n = 0
function setup(thread) n = n + 1; thread:set("tag", n) end
function init(args)
  lines = {}
  for line in io.lines("{lines}") do lines[#lines + 1] = line end
  math.randomseed(os.time() * 100 + tag)
  counter = 0
  headers = {headers}
end
"""

# GET of a random line of the file (a path).
RANDOM_GET = (
    _LINES
    + """
function request()
  return wrk.format("GET", lines[math.random(#lines)], headers)
end
"""
)

# Unique names per thread and request, so every POST is a real insert; lines are application ids.
CREATE_CONFIGURATION = (
    _LINES
    + """
function request()
  counter = counter + 1
  local body = string.format('{"application_id":"%s","name":"{run}-%d-%d","config":{config}}',
    lines[math.random(#lines)], tag, counter)
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/configurations", headers, body)
end
"""
)


def lua_headers(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f'["{name}"] = "{value}"' for name, value in headers.items()) + "}"


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: install the Debian package 'wrk' (apt-get install wrk)")
    print("installing wrk (Debian package)...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def lua_script(directory: Path, name: str, template: str, **values: str) -> Path:
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    path = directory / f"{name}.lua"
    path.write_text(text)
    return path


def run_wrk(url: str, *, seconds: int, connections: int, threads: int = 2, script: Path | None = None) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    return parse(out)


def parse(report: str) -> WrkResult:
    def number(pattern: str, default: str | None = None) -> str:
        match = re.search(pattern, report)
        if match is None:
            if default is None:
                raise ValueError(f"unexpected wrk report ({pattern}):\n{report}")
            return default
        return match.group(1)

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return WrkResult(
        requests_per_second=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(number(r"50%\s+([\d.]+\w+)")),
        p99_ms=_ms(number(r"99%\s+([\d.]+\w+)")),
        requests=int(number(r"(\d+) requests in")),
        non_2xx=int(number(r"Non-2xx or 3xx responses: (\d+)", "0")),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
