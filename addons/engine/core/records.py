"""What each request did: a small in-memory record; closed records go to
the usage store (:mod:`engine.usage`) and, by id, to the front's flow comment."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .prices import Tokens
from .quota import Quota


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
    failure_kinds: list[str] = field(default_factory=list)
    """The failure class of each of ``failures`` (engine.route.failures), for metrics."""
    continued: list[str] = field(default_factory=list)
    """``continued on X after N events (reason)``: a stream that broke after
    content and was continued (see engine.serve.exchange)."""
    status: int = 0
    stream: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    first_byte_ms: float | None = None
    duration_ms: float | None = None
    wall: float = field(default_factory=time.time)
    client_app: str = "other"
    endpoint: str = ""
    """The vendor the client called (anthropic, openai, deepseek, ...; the
    endpoint catalog's name); empty for direct clients."""
    provider: str = ""
    """The config's provider name that answered, or ``native``."""
    upstream_model: str = ""
    key_id: str = ""
    """A short hash of the key used (never the key)."""
    native: bool = False
    tokens: Tokens | None = None
    """In the store's meaning (see engine.usage); None: nothing answered."""
    estimated: bool = False
    """The provider reported no usage: the tokens are estimates."""
    cost: float | None = None
    """US dollars; None when the model has no known price."""
    quota: Quota | None = None
    """The rate-limit windows seen on the answer (native traffic mostly)."""
    error_class: str | None = None
    user: str | None = None
    """The proxy user (mitmproxy's proxyauth), None without one."""
    group: str | None = None
    """The user's group in config.yaml's ``users:``."""
    settled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set once the request is over and its tokens and cost are final."""

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

    @property
    def fell_back(self) -> bool:
        return bool(self.failures)

    @property
    def failed(self) -> bool:
        return self.status >= 400 or self.error is not None

    def summary(self) -> str:
        """Tokens and cost for the flow comment: ``[12 in + 3 cached / 40 out, $0.0012]``."""
        t = self.tokens
        if t is None:
            return ""
        text = f"{t.input} in"
        if t.cache_read or t.cache_write:
            text += f" + {t.cache_read} cache read + {t.cache_write} cache write"
            if t.cache_write_1h:
                text += f" ({t.cache_write_1h} 1h)"
        text += f" / {t.output} out"
        if t.reasoning:
            text += f" ({t.reasoning} reasoning)"
        if self.estimated:
            text += " (estimated)"
        if t.searches:
            text += f", {t.searches} web search{'es' if t.searches > 1 else ''}"
        if self.cost is not None:
            text += f", ${self.cost:.6f}".rstrip("0").rstrip(".")
        else:
            text += f", not priced (no price for {self.upstream_model or self.model})"
        return f"[{text}]"

    def public(self) -> dict[str, Any]:
        """What the front and the dashboard may see (no key, no body)."""
        t = self.tokens
        return {
            "id": self.id,
            "route": self.route,
            "status": self.status,
            "error": self.error,
            "continued": self.continued,
            "fell_back": self.fell_back,
            "failed": self.failed,
            "summary": self.summary(),
            "provider": self.provider,
            "model": self.upstream_model or self.model,
            "tokens": None if t is None else {
                "input": t.input, "output": t.output, "cache_read": t.cache_read,
                "cache_write": t.cache_write, "cache_write_1h": t.cache_write_1h,
                "reasoning": t.reasoning, "web_searches": t.searches,
            },
            "estimated": self.estimated,
            "cost": self.cost,
            "user": self.user,
            "group": self.group,
        }  # fmt: skip


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
