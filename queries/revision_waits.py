"""Readers waiting for this instance to have followed the changes up to a revision: with
several workers (infra/peers.py), a read right after another worker's write waits here until
the listener has applied that write's announcement, which takes a millisecond or so."""

import asyncio
import contextlib


class RevisionWaits:
    def __init__(self) -> None:
        self._waiting: list[tuple[int, asyncio.Future]] = []

    async def wait(self, revision: int, timeout: float) -> bool:
        """Until `reached(r)` with r >= `revision`; False when `timeout` passes or `give_up()`."""
        entry = (revision, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        try:
            return await asyncio.wait_for(entry[1], timeout)
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiting.remove(entry)

    def reached(self, revision: int | None) -> None:
        if not self._waiting or revision is None:
            return
        still = []
        for entry in self._waiting:
            if entry[0] <= revision:
                if not entry[1].done():
                    entry[1].set_result(True)
            else:
                still.append(entry)
        self._waiting = still

    def give_up(self) -> None:
        """Not following any more (the listener lost its connection): nobody waits."""
        for _, future in self._waiting:
            if not future.done():
                future.set_result(False)
        self._waiting = []
