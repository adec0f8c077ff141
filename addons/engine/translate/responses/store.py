"""The response store: Responses API state kept by the engine.

Each stored response holds its own input items, its output items, the
response object the client received and where it was answered (``origin``:
``native:<host>`` or ``provider:<name>``). A conversation chained with
``previous_response_id`` is rebuilt by walking the chain; every walk marks
the chain used, and expiry goes by last use, so ancestors outlive their
descendants. Bounded by age and by total size (both configurable), expired
in the background. Nothing of a request's headers is kept: no key, no auth.

:class:`ResponseStore` works over a :class:`Backing`: :class:`MemoryBacking`
(tests, or when no database is configured) or the database one (SQLite or
PostgreSQL) in :mod:`.sqlite`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from omniroute_mitm.engine.core.errors import EngineError
from omniroute_mitm.translators import ErrorInfo

from .items import Item, output_as_input

log = logging.getLogger(__name__)

MAX_CHAIN = 100_000  # a chain longer than this is a loop (or an attack)


class StoreUnreachable(EngineError):
    """A stored response cannot be read: the store's server is unreachable
    (PostgreSQL down). Not a "not found": the conversation is not lost."""

    def __init__(self, response_id: str) -> None:
        super().__init__(
            503,
            f"The response store is unreachable (its database is down): response "
            f"'{response_id}' cannot be read now. Retry in a moment.",
            "server",
        )

    def info(self) -> ErrorInfo:
        return ErrorInfo(503, "server", self.message, code="store_unavailable")


@dataclass(slots=True)
class Stored:
    id: str
    origin: str
    """Who answered: ``native:<host>`` or ``provider:<name>``."""
    input: list[Item]
    """This request's own input items (ids included)."""
    output: list[Item]
    response: dict[str, Any]
    """The response object as the client got it (``output`` included)."""
    previous_id: str | None = None
    created_at: float = 0.0


@dataclass(slots=True)
class Row:
    """What a backing keeps: the indexable fields and one JSON document."""

    id: str
    previous_id: str | None
    origin: str
    created_at: float
    used_at: float
    data: str
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.data)


class Backing(Protocol):
    def put(self, row: Row) -> None: ...

    def get(self, response_id: str) -> Row | None: ...

    def delete(self, response_id: str) -> bool: ...

    def touch(self, ids: list[str], now: float) -> None: ...

    def expire(self, used_before: float, max_bytes: int) -> int:
        """Drop rows last used before ``used_before``, then the least recently
        used until the total size is at most ``max_bytes``; returns how many."""
        ...

    def close(self) -> None: ...


class MemoryBacking:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def put(self, row: Row) -> None:
        self.rows[row.id] = row

    def get(self, response_id: str) -> Row | None:
        return self.rows.get(response_id)

    def delete(self, response_id: str) -> bool:
        return self.rows.pop(response_id, None) is not None

    def touch(self, ids: list[str], now: float) -> None:
        for response_id in ids:
            if (row := self.rows.get(response_id)) is not None:
                row.used_at = now

    def expire(self, used_before: float, max_bytes: int) -> int:
        old = [r.id for r in self.rows.values() if r.used_at < used_before]
        for response_id in old:
            del self.rows[response_id]
        total = sum(r.size for r in self.rows.values())
        dropped = len(old)
        for row in sorted(self.rows.values(), key=lambda r: r.used_at):
            if total <= max_bytes:
                break
            total -= row.size
            del self.rows[row.id]
            dropped += 1
        return dropped

    def close(self) -> None:
        self.rows.clear()


class ResponseStore:
    """Stored responses over a backing, bounded by ``max_age`` seconds since
    last use and ``max_bytes`` in total."""

    def __init__(
        self,
        backing: Backing | None = None,
        *,
        max_age: float = 30 * 86400,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backing: Backing = backing if backing is not None else MemoryBacking()
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.clock = clock

    def limit(self, max_age_days: float, max_mb: float) -> None:
        self.max_age = max_age_days * 86400
        self.max_bytes = int(max_mb * 1024 * 1024)

    def put(self, stored: Stored) -> None:
        now = self.clock()
        stored.created_at = stored.created_at or now
        data = {"input": stored.input, "output": stored.output, "response": stored.response}
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self.backing.put(
            Row(stored.id, stored.previous_id, stored.origin, stored.created_at, now, text)
        )

    def get(self, response_id: str) -> Stored | None:
        row = self.backing.get(response_id)
        if row is None or row.used_at < self.clock() - self.max_age:
            return None
        data = json.loads(row.data)
        return Stored(
            row.id,
            row.origin,
            data["input"],
            data["output"],
            data["response"],
            row.previous_id,
            row.created_at,
        )

    def delete(self, response_id: str) -> bool:
        return self.backing.delete(response_id)

    def chain(self, response_id: str, *, touch: bool = True) -> list[Stored] | None:
        """The responses from the first of the conversation to ``response_id``,
        oldest first (marked used); None when one of them is not held."""
        chain: list[Stored] = []
        seen: set[str] = set()
        current: str | None = response_id
        while current is not None:
            if current in seen or len(chain) >= MAX_CHAIN:
                return None
            seen.add(current)
            stored = self.get(current)
            if stored is None:
                return None
            chain.append(stored)
            current = stored.previous_id
        chain.reverse()
        if touch:
            self.backing.touch([s.id for s in chain], self.clock())
        return chain

    def history(self, response_id: str, *, touch: bool = True) -> list[Item] | None:
        """The whole conversation up to and including the output of
        ``response_id``, as input items; None when not held."""
        chain = self.chain(response_id, touch=touch)
        if chain is None:
            return None
        items: list[Item] = []
        for stored in chain:
            items += stored.input
            items += output_as_input(stored.output)
        return items

    def expire(self) -> int:
        dropped = self.backing.expire(self.clock() - self.max_age, self.max_bytes)
        if dropped:
            log.info("response store: %d expired responses dropped", dropped)
        return dropped

    async def settle(self) -> None:
        """On a store other instances read (PostgreSQL): wait until what was
        written is in it (or spooled, the server being down), so that the
        client's next call through any instance finds it."""
        if getattr(self.backing, "shared", False):
            await asyncio.to_thread(self.backing.flush)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.backing.close()
