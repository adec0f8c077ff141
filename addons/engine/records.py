"""What each request did: a small in-memory record the front can read."""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class Record:
    id: int
    client: str
    """The client's wire format."""
    kind: str
    model: str = ""
    """The model the client asked for."""
    target: str = ""
    """What the route named: a combo, provider/model or native."""
    attempts: list[str] = field(default_factory=list)
    """Labels of the attempts made, in order; the last is the one that answered."""
    failures: list[str] = field(default_factory=list)
    """``label: status`` of each attempt that failed over."""
    status: int = 0
    stream: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    first_byte_ms: float | None = None
    duration_ms: float | None = None

    @property
    def route(self) -> str:
        """``model -> provider/model (fallback from a: 429, b: 502)``."""
        if not self.attempts:
            return f"{self.model or '?'} -> not routed ({self.error or 'pending'})"
        taken = self.attempts[len(self.failures) :]
        if not taken:
            return f"{self.model or '?'} -> all failed ({', '.join(self.failures)})"
        text = f"{self.model or '?'} -> {' + '.join(taken)}"
        if self.failures:
            text += f" (fallback from {', '.join(self.failures)})"
        return text

    def mark_first_byte(self) -> None:
        if self.first_byte_ms is None:
            self.first_byte_ms = (time.monotonic() - self.started) * 1000

    def close(self, status: int) -> None:
        self.status = status
        self.duration_ms = (time.monotonic() - self.started) * 1000


class Records:
    """The last ``size`` records, by id."""

    def __init__(self, size: int = 1000) -> None:
        self._ids = itertools.count(1)
        self._recent: deque[Record] = deque(maxlen=size)
        self._by_id: dict[int, Record] = {}

    def new(self, client: str, kind: str) -> Record:
        record = Record(next(self._ids), client, kind)
        if len(self._recent) == self._recent.maxlen:
            self._by_id.pop(self._recent[0].id, None)
        self._recent.append(record)
        self._by_id[record.id] = record
        return record

    def get(self, record_id: int) -> Record | None:
        return self._by_id.get(record_id)

    def recent(self) -> list[Record]:
        return list(self._recent)
