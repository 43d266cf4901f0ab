"""What the workers of one service tell each other: the latest revision each committed.

Each worker has its own read model, following the changes through its own listener; a write
on worker A answers as soon as A shows it, perhaps before worker B has heard it announced.
So that a read through B right after a write through A shows the write, every worker puts
the revision of each change it commits in its own slot of a small shared file (one 8-byte
slot per worker, mapped into each: only its owner writes a slot, so no lock), before the
write answers; and B, before answering from memory, compares the newest slot of the others
with the revision it has followed, and when behind waits (briefly, bounded) to hear it.

The check is one read of shared memory and a comparison: the hot read path stays cheap.
"""

import mmap
import os
from pathlib import Path

SLOT = 8  # a signed 64-bit revision; an aligned 8-byte store is atomic on the CPUs we run on


def create_slots(path: Path, count: int) -> None:
    """The shared file, zeroed, for `count` workers (made by the parent before it starts them)."""
    path.write_bytes(b"\0" * SLOT * count)


class Peers:
    def __init__(self, path: Path, count: int, index: int) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, SLOT * count)
        finally:
            os.close(fd)
        self._slots = memoryview(self._map).cast("q")
        self._index = index
        self._others = tuple(i for i in range(count) if i != index)

    def committed(self, revision: int) -> None:
        """This worker committed `revision` (called before the write answers)."""
        if revision > self._slots[self._index]:
            self._slots[self._index] = revision

    def newest(self) -> int:
        """The newest revision any worker committed, this one included: a cheap first look."""
        return max(self._slots)

    def newest_of_others(self) -> int:
        """The newest revision another worker committed."""
        slots = self._slots
        return max(slots[i] for i in self._others) if self._others else 0

    def close(self) -> None:
        self._slots.release()
        self._map.close()
