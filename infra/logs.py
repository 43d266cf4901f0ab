"""One logging setup for the service, the migration runner and the uvicorn server, and a
warning that a flood cannot turn into a flood of log lines."""

import logging
import time

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Distinct causes a Throttled remembers.
MAX_CAUSES = 256


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format=FORMAT, force=True)
    # uvicorn's own handlers would print twice; let its records reach ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


class Throttled:
    """A warning that can come thousands of times a second (every 503 of a flood) logged at
    most once per `every` seconds per cause; the next line of a cause counts those left out.
    Not thread-safe: one thread (the event loop's) logs through it."""

    def __init__(self, logger: logging.Logger, every: float = 1.0, clock=time.monotonic) -> None:
        self._logger = logger
        self._every = every
        self._clock = clock
        self._causes: dict[str, list] = {}  # cause -> [when last logged, left out since]

    def warning(self, cause: str, message: str, *args: object) -> None:
        now = self._clock()
        seen = self._causes.get(cause)
        if seen is not None and now - seen[0] < self._every:
            seen[1] += 1
            return
        if seen is not None and seen[1]:
            message += f" (and {seen[1]} more like it in the last {now - seen[0]:.1f}s)"
        if len(self._causes) >= MAX_CAUSES:  # causes are few; never let them grow unbounded
            self._causes.clear()
        self._causes[cause] = [now, 0]
        self._logger.warning(message, *args)
