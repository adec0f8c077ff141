"""Shared by the renderers: SSE framing, compact JSON, per-request ids."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

_counter = itertools.count(1)


def dumps(obj: Any) -> str:
    """Compact JSON, as OpenAI and Anthropic put it on the wire."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse(data: Any, event: str | None = None, crlf: bool = False) -> bytes:
    text = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n" if event else ""
    end = "\r\n\r\n" if crlf else "\n\n"
    return f"{head}data: {text}{end}".encode()


@dataclass
class Ctx:
    """What a renderer needs to know about the request it answers."""

    model: str
    body: dict[str, Any] = field(default_factory=dict)
    serial: int = field(default_factory=lambda: next(_counter))
    created: int = field(default_factory=lambda: int(time.time()))

    def id(self, prefix: str, n: int = 0) -> str:
        """A format-typical opaque id, unique per request (and per item ``n``)."""
        return f"{prefix}fake{self.serial:06d}x{n:03d}"
