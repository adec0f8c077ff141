"""What the fake provider saw: one ``Recorded`` per request, for assertions."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .replies import Reply


def collect_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ", " as HTTP allows."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # the parsed JSON, or None
    raw: bytes
    format: str
    stream: bool = False
    reply: Reply | None = None
    events_sent: int = 0
    completed: bool = False  # the whole response was written
    closed_early: bool = False  # the client went away before the end
    dropped: bool = False  # we closed the connection on purpose (scripted)
    received_at: float = field(default_factory=time.monotonic)
    broke_at: float | None = None  # when a scripted break (drop, error event, stall) struck

    @property
    def api_key(self) -> str | None:
        """The credential the request carried, whichever header or query it used."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        for name in ("x-api-key", "x-goog-api-key"):
            if name in self.headers:
                return self.headers[name]
        return self.query.get("key")

    def carries(self, secret: str) -> bool:
        """True if ``secret`` appears anywhere in the request (headers, query, body)."""
        if any(secret in v for v in self.headers.values()):
            return True
        if any(secret in v for v in self.query.values()):
            return True
        return secret.encode() in self.raw

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "format": self.format,
            "stream": self.stream,
            "events_sent": self.events_sent,
            "completed": self.completed,
            "closed_early": self.closed_early,
            "dropped": self.dropped,
        }
