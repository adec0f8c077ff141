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
from typing import Any, TypeVar

P = TypeVar("P")

MAX_COPIES = 8192


class Copies:
    """Copies by the identity of their original (holding it: its id stays
    its own) and the change made; forgotten all at once when full."""

    __slots__ = ("_copies",)

    def __init__(self) -> None:
        self._copies: dict[int, tuple[Any, Any, Any]] = {}

    def get(self, part: P, change: Any, make: Callable[[], P]) -> P:
        """``make()``, a copy of ``part`` with ``change``: the one made
        before for this part and an equal change, if any."""
        known = self._copies.get(id(part))
        if known is not None and known[0] is part and known[1] == change:
            copy: P = known[2]
            return copy
        copy = make()
        if len(self._copies) >= MAX_COPIES:
            self._copies.clear()
        self._copies[id(part)] = (part, change, copy)
        return copy
