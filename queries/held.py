"""How many requests this instance holds (watches and feed waits), and the bound on them: each
holds a connection, an open file, so past MAX_HELD_REQUESTS a new wait is refused (503 with
Retry-After) rather than left to exhaust the process's open files.

Everything here runs on the event loop thread.
"""


class TooManyHeld(Exception):
    """This instance holds as many requests as it may."""


class HeldRequests:
    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self.count = 0

    def take(self) -> None:
        """One more held request, or TooManyHeld; each `take` is followed by one `release`."""
        if self.count >= self.limit:
            raise TooManyHeld(f"{self.count} requests are held here already (MAX_HELD_REQUESTS)")
        self.count += 1

    def release(self) -> None:
        self.count -= 1
