"""One logging setup for the service, the migration runner and the uvicorn server, and a
warning that a flood cannot turn into a flood of log lines (`Throttled`).

LOG_FORMAT=text: one line a record, for people. LOG_FORMAT=json: one JSON object a line, for
log shippers: time (UTC, ISO 8601), level, logger, message, the worker when there are
several, an exception's traceback when there is one, and what the record carries (an access
line: request_id, client, method, path, route, status, duration_ms).
"""

import datetime
import json
import logging
import time

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
WORKER_FORMAT = "%(asctime)s %(levelname)-7s [worker {worker}] %(name)s: %(message)s"
# What a record may carry beyond the usual (logging's `extra=`), written as JSON fields.
FIELDS = ("request_id", "client", "method", "path", "route", "status", "duration_ms")

# Distinct causes a Throttled remembers.
MAX_CAUSES = 256


class JsonFormatter(logging.Formatter):
    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.worker is not None:
            line["worker"] = self.worker
        for field in FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str = "text", worker: int | None = None) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(worker))
    else:
        handler.setFormatter(logging.Formatter(FORMAT if worker is None else WORKER_FORMAT.format(worker=worker)))
    logging.basicConfig(level=level, handlers=[handler], force=True)
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
