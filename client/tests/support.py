"""Helpers of the client's tests."""

import time


def wait_for(condition, timeout: float = 10.0, what: str = "the condition"):
    """The first truthy value of `condition()`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout}s")
