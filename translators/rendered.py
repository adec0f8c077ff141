"""The messages of a conversation rendered in its last request, reused.

A coding agent resends its whole conversation each turn and only changes
its end. Translated, the same messages are rendered and encoded again each
turn: with the engine's message memo their canonical parts are the same
objects each turn (shared, never changed in place), so the rendering of
the longest run of leading messages whose parts are the very objects
rendered last time is taken from then, and only the rest is rendered.

A renderer that reads nothing but its messages and a context (what else of
the request it reads, in the key) is a function of the messages before the
point where the two requests part: its items, its warnings and its state
there are what it had then. Each message's end is recorded as it is
rendered: the number of items and warnings so far and the renderer's state
(its own, e.g. the calls seen so far), or None where no later request may
start from there (content held back for a later message; an id or the time
drawn, which a fresh rendering draws anew). The rendered items are never
changed after they are made (a renderer that changes earlier items, like
merging turns, is not one for this memo), so they are shared with later
requests, and each is kept encoded (``orjson.Fragment``): :meth:`dumps`
encodes only the new ones.

Renderings are found by format, context and the parts of the first message
(another conversation, or the same one with its start changed, starts
afresh), holding their parts (the ids compared stay theirs); the last
:data:`MAX_RUNS`, and at most :data:`MAX_BYTES`. One event loop uses it and
nothing here awaits.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, count, islice
from operator import attrgetter, is_not, ne
from typing import Any

import orjson

from .canonical import Env, Message, Part

MAX_RUNS = 16
MAX_BYTES = 64 << 20
"""Counted as :data:`WEIGHT` times the bytes encoded (or the characters
counted): the fragments, the dicts and the parts held weigh a few times that
(the parts are mostly the message memo's too, but may outlive its entries)."""
WEIGHT = 5

End = tuple[int, int, Any] | None
"""After a message: items so far, warnings so far, the renderer's state."""


@dataclass(slots=True)
class Rendering:
    """One request's messages as rendered (for one format and context)."""

    layout: Layout
    ends: list[End]
    items: list[dict[str, Any]]
    encoded: list[Any]
    """Each item as ``orjson.Fragment``, or the item (what orjson refused)."""
    sizes: list[int]
    """The bytes encoded up to each item (what the memo counts)."""
    warnings: list[str]
    extra: int = 0
    """What else the rendering weighs (a count without items: its characters)."""

    @property
    def size(self) -> int:
        return WEIGHT * ((self.sizes[-1] if self.sizes else 0) + self.extra)


def _ids(message: Message) -> tuple[Any, ...] | None:
    """What must be the same for a message to be the one rendered before;
    None for a message with meta of its own (rare: never reused)."""
    if message.meta:
        return None
    return (message.role, *map(id, message.parts))


_PARTS = attrgetter("parts")
_ROLE = attrgetter("role")
_META = attrgetter("meta")


@dataclass(frozen=True, slots=True)
class Layout:
    """What of a request's messages a later one is compared with, each list
    made at C speed (no Python step per message)."""

    roles: list[str]
    counts: list[int]
    """Each message's number of parts."""
    bounds: list[int]
    """The parts up to and including each message."""
    parts: list[Part]
    """Every part, in order, held: compared by identity."""
    meta: int
    """The first message with meta of its own (never compared: rare), or the count."""

    @classmethod
    def of(cls, messages: Sequence[Message]) -> Layout:
        lists = list(map(_PARTS, messages))
        counts = list(map(len, lists))
        first_meta = next(compress(count(), map(_META, messages)), len(messages))
        parts = list(chain.from_iterable(lists))
        return cls(list(map(_ROLE, messages)), counts, list(accumulate(counts)), parts, first_meta)

    def same_lead(self, old: Layout) -> int:
        """How many leading messages have the role, and the very parts, of
        ``old``'s (and no meta)."""
        n = min(len(self.roles), len(old.roles), self.meta, old.meta)
        n = min(n, _first(map(ne, self.roles, old.roles), n))
        n = min(n, _first(map(ne, self.counts, old.counts), n))
        if not n:
            return 0
        limit = self.bounds[n - 1]
        differs = _first(islice(map(is_not, self.parts, old.parts), limit), limit)
        return bisect_right(self.bounds, differs, 0, n)


def _first(flags: Iterable[bool], default: int) -> int:
    """The index of the first true flag, else ``default``."""
    return next(compress(count(), flags), default)


class Run:
    """One request's rendering of its messages, reusing the last one's lead."""

    __slots__ = ("memo", "key", "messages", "layout", "old", "taken", "ends", "poisoned")

    def __init__(self, memo: RenderMemo, key: Any, messages: Sequence[Message]) -> None:
        self.memo = memo
        self.key = key
        self.messages = messages
        self.layout = Layout.of(messages)
        self.old = memo.runs.get(key) if key is not None else None
        self.taken = self._lead()
        """How many leading messages are taken from the last rendering."""
        self.ends: list[End] = []
        self.poisoned = False

    def _lead(self) -> int:
        old = self.old
        if old is None:
            return 0
        n = self.layout.same_lead(old.layout)
        while n and old.ends[n - 1] is None:
            n -= 1
        return n

    def lead(self) -> tuple[list[dict[str, Any]], list[str], Any]:
        """The items, warnings and state the renderer has after the leading
        messages rendered last time (:attr:`taken` of them; none: ``[], [],
        None``)."""
        n, old = self.taken, self.old
        if not n or old is None:
            return [], [], None
        self.memo.hits += n
        self.ends = old.ends[:n]
        end = old.ends[n - 1]
        assert end is not None
        return old.items[: end[0]], old.warnings[: end[1]], end[2]

    def end(self, items: int, warnings: int, state: Any, drew: bool) -> None:
        """A message rendered: ``items`` and ``warnings`` so far, the state
        after it (None: no later request may start after it), whether it drew
        an id or the time (then none after it either)."""
        self.poisoned = self.poisoned or drew
        self.ends.append(None if self.poisoned or state is None else (items, warnings, state))

    def finish(self, items: list[dict[str, Any]], warnings: list[str], extra: int = 0) -> list[Any]:
        """Remember this request's rendering (its items and warnings; ``extra``:
        what else it weighs, see :class:`Rendering`); returns the items
        encoded (the lead's as before, the rest now)."""
        self.memo.misses += len(self.messages) - self.taken
        old, n = self.old, self.taken
        lead = old.ends[n - 1] if old is not None and n else None
        kept = lead[0] if lead is not None else 0
        encoded = old.encoded[:kept] if old is not None and kept else []
        sizes = old.sizes[:kept] if old is not None and kept else []
        total = sizes[-1] if sizes else 0
        for item in items[kept:]:
            fragment, length = _encode(item)
            encoded.append(fragment)
            total += length
            sizes.append(total)
        if self.key is None:
            return encoded
        rendering = Rendering(self.layout, self.ends, items, encoded, sizes, warnings, extra)
        self.memo.put(self.key, rendering)
        return encoded


def _encode(item: dict[str, Any]) -> tuple[Any, int]:
    """``item`` as orjson encodes it at the depth a body holds it (orjson
    refuses nesting too deep), or the item itself where orjson refuses it;
    and the bytes it takes."""
    try:
        data = orjson.dumps([[item]])[2:-2]
    except TypeError:
        return item, 0
    return orjson.Fragment(data), len(data)


class RenderMemo:
    """The last renderings, by format, context and first message (an LRU)."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_runs: int = MAX_RUNS) -> None:
        self.max_bytes = max_bytes
        self.max_runs = max_runs
        self.held = 0
        self.hits = 0
        self.misses = 0
        self.runs: OrderedDict[Any, Rendering] = OrderedDict()
        self._placed: tuple[int, list[Any]] | None = None

    def __len__(self) -> int:
        return len(self.runs)

    def run(self, fmt: str, context: Any, messages: Sequence[Message]) -> Run:
        """A rendering of ``messages`` for ``fmt`` starts (``context``: what
        else of the request the renderer reads, hashable)."""
        self._placed = None
        first = _ids(messages[0]) if messages else None
        return Run(self, None if first is None else (fmt, context, first), messages)

    def put(self, key: Any, rendering: Rendering) -> None:
        old = self.runs.pop(key, None)
        if old is not None:
            self.held -= old.size
        if rendering.size <= self.max_bytes:
            self.runs[key] = rendering
            self.held += rendering.size
        while self.runs and (self.held > self.max_bytes or len(self.runs) > self.max_runs):
            _, gone = self.runs.popitem(last=False)
            self.held -= gone.size

    def place(self, start: int, encoded: list[Any]) -> None:
        """The rendered messages' items sit from ``start`` in the body's list."""
        self._placed = (start, encoded)

    def unplace(self) -> None:
        """A rendering starts: nothing placed yet (see :meth:`dumps`)."""
        self._placed = None

    def dumps(self, body: dict[str, Any], member: str) -> bytes:
        """``body`` encoded as orjson encodes it, the items :meth:`place`
        placed in ``member`` spliced in as their bytes. Raises TypeError
        where orjson refuses the body (the caller then encodes it whole, as
        without the memo)."""
        placed, self._placed = self._placed, None
        items = body.get(member)
        if placed is not None and isinstance(items, list):
            start, encoded = placed
            spliced = items[:start] + encoded + items[start + len(encoded) :]
            body = {**body, member: spliced}
        return orjson.dumps(body)


class Draws:
    """An Env that tells whether an id or the time was drawn."""

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
