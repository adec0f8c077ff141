"""The same copy of a shared part each time a request changes it alike.

A remembered message's parts are shared by every request that resends it
and never changed in place: what one message gives another (a tool result's
name or call id, from the call it answers) goes on a copy. Handing out the
same copy for the same part and change keeps a resent message's parts the
same objects turn after turn, which is what lets its rendering be
remembered too (translators.rendered).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from operator import eq
from typing import Any, TypeVar

P = TypeVar("P")

MAX_COPIES = 4096
MAX_BYTES = 16 << 20
"""The text the originals held here may hold (a tool result can be large;
the message memo forgets them by its own bound, these by this one)."""


class Copies:
    """Copies by the identity of their original (holding it: its id stays
    its own) and the change made; forgotten all at once when full."""

    __slots__ = ("_copies", "held", "max_bytes")

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._copies: dict[int, tuple[Any, Any, Any]] = {}
        self.held = 0
        self.max_bytes = max_bytes

    def known(self, part: P, change: Any) -> P | None:
        """The copy made before for ``part`` and an equal ``change``, if any."""
        known = self._copies.get(id(part))
        if known is not None and known[0] is part and known[1] == change:
            copy: P = known[2]
            return copy
        return None

    def get(
        self, part: P, change: Any, make: Callable[[], P], same: Callable[[Any, Any], bool] = eq
    ) -> P:
        """``make()``, a copy of ``part`` with ``change``: the one made
        before for this part and a change ``same`` as this one, if any."""
        known = self._copies.get(id(part))
        if known is not None and known[0] is part and same(known[1], change):
            copy: P = known[2]
            return copy
        copy = make()
        size = _weight(part)
        if len(self._copies) >= MAX_COPIES or self.held + size > self.max_bytes:
            self._copies.clear()
            self.held = 0
        if size <= self.max_bytes:
            self._copies[id(part)] = (part, change, copy)
            self.held += size
        return copy

    def with_meta(self, part: P, meta: dict[str, Any], *, by_value: bool = False) -> P:
        """``part`` (a dataclass) with ``meta``: the copy made before for it
        and meta holding the same objects (``by_value``: equal meta; only
        where no later step tells shared dicts from equal ones)."""
        same = eq if by_value else _same_values
        made: P = self.get(part, meta, lambda: replace(part, meta=meta), same)  # type: ignore[type-var]
        return made


def _weight(value: Any, depth: int = 0) -> int:
    """About the text ``value`` holds (strings and bytes, a few levels down)."""
    if isinstance(value, str | bytes):
        return len(value)
    if depth > 4:
        return 0
    if isinstance(value, list | tuple):
        return sum(_weight(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return sum(_weight(v, depth + 1) for v in value.values())
    if is_dataclass(value) and not isinstance(value, type):
        return sum(_weight(getattr(value, f.name), depth + 1) for f in fields(value))
    return 0


def _same_values(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same keys holding the very same objects."""
    return a.keys() == b.keys() and all(v is b[k] for k, v in a.items())
