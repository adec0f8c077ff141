"""The router's shared state behind a few operations on keys with expiry.

Everything the router must remember between requests (cooldowns, breakers,
failure counts, rotation counters, conversation affinity, quota headers) is
kept through :class:`StateStore`: ``get``, ``set`` with a time to live,
``incr``, ``add`` and ``delete`` on string keys, the same operations Redis
offers (GET, SET EX, INCR + EXPIRE, INCRBYFLOAT + EXPIRE, DEL), so a shared
backend implements it too (:mod:`.shared`: Redis or Valkey, ``omniroute_state``).
:class:`MemoryStore` is the default: bounded, expired keys dropped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

Clock = Callable[[], float]


class StateStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """``ttl`` seconds from now (None: until evicted)."""
        ...

    def incr(self, key: str, ttl: float | None = None) -> int:
        """Add one and return the new count; ``ttl`` applies when the key is new."""
        ...

    def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        """Add ``amount`` (INCRBYFLOAT) and return the new total; ``ttl`` applies
        when the key is new (budgets in USD, token counts)."""
        ...

    def delete(self, key: str) -> None: ...


class MemoryStore:
    """In-process store; the least recently written keys go beyond ``capacity``."""

    def __init__(self, capacity: int = 20_000, clock: Clock = time.monotonic) -> None:
        self.capacity = capacity
        self.clock = clock
        self._data: OrderedDict[str, tuple[str, float | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self.clock():
            del self._data[key]
            return None
        return value

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        expires = None if ttl is None else self.clock() + ttl
        self._data[key] = (value, expires)
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def incr(self, key: str, ttl: float | None = None) -> int:
        current = self.get(key)
        if current is None:
            self.set(key, "1", ttl)
            return 1
        count = int(current) + 1
        expires = self._data[key][1]
        self._data[key] = (str(count), expires)
        return count

    def add(self, key: str, amount: float, ttl: float | None = None) -> float:
        current = self.get(key)
        if current is None:
            self.set(key, _number(amount), ttl)
            return float(amount)
        total = float(current) + amount
        self._data[key] = (_number(total), self._data[key][1])
        self._data.move_to_end(key)
        return total

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def expiry(self, key: str) -> float | None:
        """Seconds ``key`` has left (None: no expiry, or no such key)."""
        item = self._data.get(key)
        if item is None or item[1] is None:
            return None
        return max(0.0, item[1] - self.clock())


def _number(value: float) -> str:
    """As Redis writes an INCRBYFLOAT result: no trailing ``.0``."""
    return repr(int(value)) if float(value).is_integer() else repr(float(value))
