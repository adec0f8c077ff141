"""What was worked out from the last few bodies, for the next turn's body.

A coding agent resends its whole conversation every turn (0.2-1 MB), the
same bytes up to where the new turn begins (or where a cache mark moved).
Work done on a body (where its members are, which signatures it carries,
whether it mentions something) can then be taken up to the byte where the
next body parts from it, and only the rest done again.

:class:`Resent` keeps the last few bodies with what was found in each,
under a key (the caller's kind of work) and their opening bytes (a
conversation's system prompt and tools: two conversations may open alike,
so the one sharing the most bytes is taken). Least recently used first
out; one event loop uses each, nothing here awaits.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


def common_prefix(old: bytes, new: bytes) -> int:
    """How many leading bytes ``old`` and ``new`` share (compared in
    blocks, without copies)."""
    size = min(len(old), len(new))
    view = memoryview(old)
    pos, block = 0, 1 << 16
    while pos < size:
        step = min(block, size - pos)
        if new.startswith(view[pos : pos + step], pos):
            pos += step
            continue
        low, high = pos, pos + step  # old[:low] == new[:low]; they differ before high
        while high - low > 1:
            mid = (low + high) // 2
            if new.startswith(view[low:mid], low):
                low = mid
            else:
                high = mid
        return low
    return size


@dataclass(slots=True, eq=False)  # (found by identity: never compare the bodies)
class Kept[T]:
    """One remembered body and what was found in it."""

    key: Hashable
    head: bytes
    body: bytes
    value: T


class Resent[T]:
    """The last ``keep`` bodies (with what was found in each) by key and
    opening; see the module's text."""

    def __init__(self, keep: int = 8, head: int = 512) -> None:
        self.keep = keep
        self.head = head
        self._kept: list[Kept[T]] = []

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        self._kept.clear()

    def closest(self, body: bytes, key: Hashable = None) -> tuple[Kept[T] | None, int]:
        """The kept body of ``key`` and ``body``'s opening that shares the
        most leading bytes with ``body``, and how many (None, -1: none)."""
        head = body[: self.head]
        best, same = None, -1
        for kept in self._kept:
            if kept.key == key and kept.head == head:
                alike = common_prefix(kept.body, body)
                if alike > same:
                    best, same = kept, alike
        return best, same

    def remember(
        self, body: bytes, value: T, key: Hashable = None, replaces: Kept[T] | None = None
    ) -> None:
        """``body`` and ``value`` as the most recent, in place of the kept
        body it continues (``replaces``, from :meth:`closest`)."""
        self.forget(replaces)
        self._kept.append(Kept(key, body[: self.head], body, value))
        if len(self._kept) > self.keep:
            del self._kept[0]  # the least recently used

    def forget(self, kept: Kept[T] | None) -> None:
        """``kept`` no longer remembered (a body that did not continue it)."""
        if kept is not None and kept in self._kept:
            self._kept.remove(kept)


__all__ = ["Kept", "Resent", "common_prefix"]
