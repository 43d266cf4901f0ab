"""Runs the service as production does (`python -m api` under uvicorn) in a child process: for
the tests and the benchmark."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from infra.postgres import free_port
from infra.settings import PROJECT_ROOT


class ServiceProcess:
    def __init__(self, **settings: object) -> None:
        self.port = int(settings.pop("port", None) or free_port())
        self.url = f"http://127.0.0.1:{self.port}"
        # A clean environment: only what the test sets (no developer .env: cwd is a temp dir).
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(PROJECT_ROOT),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PORT": str(self.port),
            # One process unless asked: the tests and most bench lines measure one.
            "WORKERS": "1",
            **{name.upper(): str(value) for name, value in settings.items()},
        }
        self.cwd = tempfile.mkdtemp(prefix="config-service-run-")
        self.log_path = Path(self.cwd) / "service.log"
        self.process: subprocess.Popen | None = None
        self._final_log: str | None = None

    def start(self) -> "ServiceProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api"], cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"service exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"service not healthy after {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the service and wait for it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"service did not stop within {timeout}s:\n{self.log()}") from None

    def worker_pids(self) -> list[int]:
        """With WORKERS > 1: the worker processes' pids (the parent's children less
        multiprocessing's resource tracker, which is no spawned worker)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]

    def log(self) -> str:
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        """Stop the service if it runs, keep its log in memory, remove its directory."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.stop()
        finally:
            self._final_log = self.log()
            shutil.rmtree(self.cwd, ignore_errors=True)

    def __enter__(self) -> "ServiceProcess":
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
