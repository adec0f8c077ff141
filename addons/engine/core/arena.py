"""Request bodies handed from the front to its engine child in shared memory.

A coding agent's request is the whole conversation (0.2-1 MB of JSON)
every turn. Sent to the engine over loopback TCP it is copied into the
kernel by the front, carried through its TCP stack and read back by the
engine in 64 KB pieces: ~1 ms of CPU per MB between the two processes,
as much as the rest of the engine's work on a passed-through body.

Instead the front copies a large body into an :class:`Arena` (an anonymous
shared memory file, ``memfd_create``) and sends the engine an empty request
naming where the body lies (:data:`.headers.BODY_AT_HEADER`); the engine
child, which got the same file at its start, copies it out
(:class:`ArenaView`). One memcpy on each side, no system call per piece.

The front frees a body's place once the engine has it: when the engine
announces it routes the call (it read the body before), or when the flow
ends (answered, failed, or the engine died). A body that does not fit
goes over the socket as before, as does every body when there is no arena
(no ``memfd_create``: not Linux; an engine at a URL; the in-process engine).
Nothing of the arena is on disk or has a name in the file system; only the
two processes hold it.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass

SIZE = 64 * 1024 * 1024
"""The arena's size (a sparse file: pages are allocated as bodies first use
them, and reused after; RSS grows with the most bytes held at once)."""
MIN_BODY = 64 * 1024
"""Smaller bodies go over the socket (one packet or a few: nothing to save)."""
ALIGN = 4096
_AT = re.compile(r"(\d{1,12}),(\d{1,12})")


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one body lies in the arena."""

    offset: int
    length: int
    size: int  # the place taken (length rounded up to ALIGN)

    def header(self) -> str:
        return f"{self.offset},{self.length}"


class Arena:
    """The front's side: a shared memory file and the places taken in it
    (first fit over a sorted free list; a handful of bodies at once)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size
        self._map = mmap.mmap(fd, size)
        self._free: list[tuple[int, int]] = [(0, size)]  # (start, end), sorted, merged
        self.held = 0

    @classmethod
    def create(cls, size: int = SIZE) -> Arena | None:
        """A new arena, or None where the system has no anonymous shared
        memory files (the bodies then go over the socket)."""
        if not hasattr(os, "memfd_create"):
            return None
        try:
            fd = os.memfd_create("omniroute-bodies", os.MFD_CLOEXEC)
        except OSError:
            return None
        try:
            os.ftruncate(fd, size)
            return cls(fd, size)
        except (OSError, ValueError):
            os.close(fd)
            return None

    def put(self, data: bytes) -> Slot | None:
        """``data`` copied into a free place; None when none is large enough."""
        size = -(-len(data) // ALIGN) * ALIGN or ALIGN
        for i, (start, end) in enumerate(self._free):
            if end - start >= size:
                if end - start == size:
                    del self._free[i]
                else:
                    self._free[i] = (start + size, end)
                self._map[start : start + len(data)] = data
                self.held += size
                return Slot(start, len(data), size)
        return None

    def release(self, slot: Slot) -> None:
        """Give a body's place back (once; the front keeps one owner per slot)."""
        start, end = slot.offset, slot.offset + slot.size
        free = self._free
        i = 0
        while i < len(free) and free[i][0] < start:
            i += 1
        if i and free[i - 1][1] == start:  # merge with the place before
            start = free[i - 1][0]
            i -= 1
            del free[i]
        if i < len(free) and free[i][0] == end:  # and the one after
            end = free[i][1]
            del free[i]
        free.insert(i, (start, end))
        self.held -= slot.size

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)


class ArenaView:
    """The engine child's side: the front's arena, read only."""

    def __init__(self, fd: int) -> None:
        self.size = os.fstat(fd).st_size
        self._map = mmap.mmap(fd, self.size, prot=mmap.PROT_READ)
        os.close(fd)  # (the mapping keeps the memory)

    def place(self, at: str) -> tuple[int, int] | None:
        """The offset and length ``at`` (``offset,length``) names; None for a
        malformed or out-of-range place."""
        found = _AT.fullmatch(at.strip())
        if found is None:
            return None
        offset, length = int(found[1]), int(found[2])
        return None if offset + length > self.size else (offset, length)

    def read(self, at: str) -> bytes | None:
        """The body the front placed where ``at`` says (a copy); None for a
        malformed or out-of-range place."""
        place = self.place(at)
        return None if place is None else self.copy(*place)

    def copy(self, offset: int, length: int) -> bytes:
        return self._map[offset : offset + length]
