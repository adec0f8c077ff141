"""Rendered messages remembered between requests, encoded once.

A long conversation translated turn after turn renders the same messages
again and again: their canonical parts are the same objects each turn (the
engine's message memo shares them, never changing one in place), so a
message's rendering for a target is remembered by the identity of its parts
together with everything else the renderer reads while rendering it: the
target format, the message's index (warnings name it), its role, and the
format's own context (:meth:`RenderMemo.key`'s ``context``; what a message
needs from the ones before it that is not in the key, each format checks on
a hit, see ``needs``). What a message leaves for the ones after it (``state``)
is replayed on a hit, as are its warnings.

Each rendered item is also kept encoded (``orjson.Fragment``): the body is
encoded with the remembered items spliced in as bytes (:meth:`dumps`), so
only new messages are encoded. The rendered dicts themselves stay in the
body (whatever reads the rendered body sees the same objects as before) and
are never changed once remembered: a caller that changes a rendered body
(a continuation's prefix mark) renders without the memo.

An entry holds its parts, so the ids in its key stay theirs; bounded by the
bytes it holds, least recently used first. One event loop uses it and
nothing here awaits.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from .canonical import Env, Message, Part

MAX_BYTES = 32 << 20
"""What the memo may hold, counted as :data:`WEIGHT` times the encoded bytes
(the dicts of an item are held too; their strings are the parts' own)."""
WEIGHT = 2

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message's rendering: the items it added, their bytes, its warnings."""

    parts: tuple[Part, ...]
    """Held: the ids in the key stay these parts' own."""
    items: tuple[dict[str, Any], ...]
    fragments: tuple[tuple[int, orjson.Fragment], ...]
    """Each item's bytes by the item's id (the items are held here too)."""
    warnings: tuple[str, ...]
    needs: Any
    """What the message read from the ones before it (checked on a hit)."""
    state: Any
    """What the message leaves for the ones after it (replayed on a hit)."""
    size: int


class RenderMemo:
    """Rendered messages by target, index, role, context and parts (an LRU)."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, Rendered] = OrderedDict()
        self._fragments: dict[int, orjson.Fragment] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self) -> None:
        """A new request's rendering starts (forgets the last one's items)."""
        self._fragments = {}

    @staticmethod
    def key(fmt: str, index: int, message: Message, context: Any) -> Key | None:
        """The key of ``message`` rendered at ``index``; None when it has
        meta of its own (rare: not remembered)."""
        if message.meta:
            return None
        return (fmt, index, message.role, context, *map(id, message.parts))

    def get(self, key: Key) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        self._fragments.update(entry.fragments)
        return entry

    def put(
        self,
        key: Key,
        message: Message,
        items: list[dict[str, Any]],
        warnings: list[str],
        needs: Any,
        state: Any,
    ) -> None:
        """Remember what ``message`` rendered into; nothing when an item is
        not what orjson encodes (the body is then encoded as without the memo)."""
        try:
            # (at the depth the body holds it: orjson refuses nesting too deep)
            encoded = [orjson.dumps([[item]])[2:-2] for item in items]
        except TypeError:
            return
        fragments = tuple(zip(map(id, items), map(orjson.Fragment, encoded), strict=True))
        self._fragments.update(fragments)
        size = WEIGHT * sum(map(len, encoded)) + 64 * (len(key) + 1)
        if size > self.max_bytes:
            return
        entry = Rendered(
            tuple(message.parts), tuple(items), fragments, tuple(warnings), needs, state, size
        )
        old = self._entries.pop(key, None)
        if old is not None:
            self.held -= old.size
        self._entries[key] = entry
        self.held += size
        while self.held > self.max_bytes:
            _, gone = self._entries.popitem(last=False)
            self.held -= gone.size

    def dumps(self, body: dict[str, Any], member: str) -> bytes:
        """``body`` encoded as orjson encodes it, the items of ``member`` this
        request rendered or took from here spliced in as their bytes. Raises
        TypeError where orjson refuses the body (the caller's fallback then
        encodes it whole, as without the memo)."""
        known = self._fragments
        items = body.get(member)
        if known and isinstance(items, list):
            body = {**body, member: [known.get(id(item), item) for item in items]}
        return orjson.dumps(body)


class Draws:
    """An Env that tells whether an id or the time was drawn: a message
    whose rendering drew one is not remembered (a fresh rendering draws anew)."""

    __slots__ = ("env", "drawn", "wrapped")

    def __init__(self, env: Env) -> None:
        self.env = env
        self.drawn = 0
        self.wrapped = Env(new_id=self._new_id, now=self._now)

    def _new_id(self, prefix: str) -> str:
        self.drawn += 1
        return self.env.new_id(prefix)

    def _now(self) -> int:
        self.drawn += 1
        return self.env.now()
