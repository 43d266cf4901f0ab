"""What an instance does by itself, beside answering requests: take the steps of rollouts when
they are due, and write the fleet's sightings. Started and stopped by the app's lifespan.

Every instance runs both. A step is a conditional command (commands/rollouts.py), so however
many instances find it due at once, exactly one takes it, and a rollout advances on time as
long as any instance is up.
"""

import asyncio
import contextlib
import logging
import time

from commands.bus import CommandBus
from commands.errors import Conflict
from commands.reports import RecordSightings
from commands.rollouts import AdvanceRollout
from infra.database import DatabaseUnavailable, Overloaded
from infra.writes import Caller
from queries.fleet import Sightings
from queries.rollouts import Releases

log = logging.getLogger("api")

# How the feed names what the service does by itself.
SERVICE = Caller(actor="config-service")
# How often the stepper looks at the rollouts held in memory (no database round trip).
STEP_CHECK = 0.25


class Background:
    def __init__(self, bus: CommandBus, releases: Releases, sightings: Sightings, flush_every: float) -> None:
        self._bus = bus
        self._releases = releases
        self._sightings = sightings
        self._flush_every = flush_every
        self._tasks: list[asyncio.Task] = []
        self._tried: dict[tuple[str, int], float] = {}  # (rollout, share) -> when a step last failed

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._step_rollouts()), loop.create_task(self._flush_sightings())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()  # what was seen last is not lost

    async def _step_rollouts(self) -> None:
        while True:
            await asyncio.sleep(STEP_CHECK)
            now = time.time()
            for id, percent, due in self._releases.due():
                if due > now or now - self._tried.get((id, percent), 0) < 1:
                    continue
                try:
                    await self._bus.dispatch(AdvanceRollout(id, percent), SERVICE)
                except Conflict:  # taken by another instance, or not due after all
                    pass
                except (DatabaseUnavailable, Overloaded) as exc:
                    self._tried[id, percent] = now  # again in a second
                    log.info("rollout %s: its step from %d%% waits for the database (%s)", id, percent, exc)
                except Exception:
                    self._tried[id, percent] = now
                    log.exception("rollout %s: its step from %d%% failed", id, percent)
            if len(self._tried) > 1000:
                self._tried = {key: at for key, at in self._tried.items() if now - at < 60}

    async def _flush_sightings(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            await self.flush()

    async def flush(self) -> None:
        """Write what was seen since the last flush, in one statement."""
        seen = self._sightings.drain()
        if not seen:
            return
        try:
            await self._bus.dispatch(RecordSightings(seen), SERVICE)
        except Exception as exc:  # the fleet view is best effort: these clients show again when seen again
            log.info("%d client sightings not written: %s", len(seen), exc)
