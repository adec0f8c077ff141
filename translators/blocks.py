"""Keeps a decoder's blocks within the canonical stream invariants.

Providers may interleave blocks (an OpenAI-compatible provider streaming two
tool calls' argument fragments alternately); the canonical stream has dense,
increasing block indexes, at most one block open at a time, and each block
closed before the next opens. A decoder names its blocks by its own keys
(the provider's tool index, an item id) and :class:`Blocks` does the rest: a
block started while another is open is held, with its deltas, until the open
one ends; then it is emitted whole and streams on. Fragments of a block that
already ended are dropped (nothing could still place them).

The common case (blocks one after another) costs one dict lookup per delta.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from .canonical import (
    BlockCitation,
    BlockDelta,
    BlockEnd,
    BlockStart,
    Citation,
    Meta,
    Part,
    StreamEvent,
)


@dataclass(slots=True)
class _Held:
    part: Part
    deltas: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    ended: bool = False
    meta: Meta = field(default_factory=dict)


class Blocks:
    """Block bookkeeping for one stream; events are appended to ``events``
    lists the decoder passes in."""

    __slots__ = ("_held", "_index", "_next", "open_key", "part")

    def __init__(self) -> None:
        self._next = 0
        self.open_key: Hashable | None = None
        """The key of the open block (None when no block is open); read only."""
        self._index = -1
        self.part: Part | None = None
        """The part of the open block (None when no block is open); read only."""
        self._held: dict[Hashable, _Held] = {}

    @property
    def held(self) -> bool:
        """Whether blocks are waiting for the open one to end."""
        return bool(self._held)

    def is_live(self, key: Hashable) -> bool:
        """Open or held: still able to take deltas."""
        return key == self.open_key or key in self._held

    def start(self, key: Hashable, part: Part, events: list[StreamEvent]) -> None:
        """Start block ``key`` (a key not used before)."""
        if self.open_key is None:
            self._emit_start(key, part, events)
        else:
            self._held[key] = _Held(part)

    def delta(self, key: Hashable, text: str, events: list[StreamEvent]) -> None:
        if key == self.open_key:
            events.append(BlockDelta(self._index, text))
        else:
            held = self._held.get(key)
            if held is not None and not held.ended:
                held.deltas.append(text)

    def cite(self, key: Hashable, citation: Citation, events: list[StreamEvent]) -> None:
        """Add a citation to text block ``key`` (its span counts the text so far)."""
        if key == self.open_key:
            events.append(BlockCitation(self._index, citation))
        else:
            held = self._held.get(key)
            if held is not None and not held.ended:
                held.citations.append(citation)

    def end(self, key: Hashable, events: list[StreamEvent], meta: Meta | None = None) -> None:
        """End block ``key``; the next held block (if any) is emitted."""
        if key == self.open_key:
            events.append(BlockEnd(self._index, meta or {}))
            self.open_key, self.part = None, None
            self._promote(events)
        else:
            held = self._held.get(key)
            if held is not None:
                held.ended = True
                held.meta = meta or {}

    def end_all(self, events: list[StreamEvent]) -> None:
        """End the open block and emit every held one whole."""
        while self.open_key is not None:
            self.end(self.open_key, events)

    def _promote(self, events: list[StreamEvent]) -> None:
        while self._held and self.open_key is None:
            key = next(iter(self._held))
            held = self._held.pop(key)
            self._emit_start(key, held.part, events)
            if held.deltas:
                events.append(BlockDelta(self._index, "".join(held.deltas)))
            events.extend(BlockCitation(self._index, c) for c in held.citations)
            if held.ended:
                events.append(BlockEnd(self._index, held.meta))
                self.open_key, self.part = None, None

    def _emit_start(self, key: Hashable, part: Part, events: list[StreamEvent]) -> None:
        self.open_key, self._index, self.part = key, self._next, part
        self._next += 1
        events.append(BlockStart(self._index, part))


class JsonEnd:
    """Tells when streamed JSON text (a tool call's arguments) is complete:
    the outermost object or array has closed. Fed fragment by fragment."""

    __slots__ = ("_depth", "_escape", "_seen", "_string")

    def __init__(self) -> None:
        self._depth = 0
        self._string = False
        self._escape = False
        self._seen = False

    def feed(self, text: str) -> bool:
        depth, string, escape, seen = self._depth, self._string, self._escape, self._seen
        for ch in text:
            if string:
                if escape:
                    escape = False
                elif ch == "\\":
                    escape = True
                elif ch == '"':
                    string = False
            elif ch == '"':
                string = True
            elif ch in "{[":
                depth += 1
                seen = True
            elif ch in "}]":
                depth -= 1
        self._depth, self._string, self._escape, self._seen = depth, string, escape, seen
        return self.complete

    @property
    def complete(self) -> bool:
        return self._seen and self._depth <= 0 and not self._string
