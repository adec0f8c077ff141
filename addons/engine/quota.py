"""How close a key is to its limit, from the headers providers send.

- Anthropic subscriptions: ``anthropic-ratelimit-unified-{5h,7d}-utilization``
  (a fraction) with ``-reset`` (Unix seconds) and ``-status`` (``rejected``
  when the window is exhausted); API keys: ``anthropic-ratelimit-{requests,
  tokens,input-tokens,output-tokens}-{limit,remaining,reset}`` (RFC 3339).
- OpenAI: ``x-ratelimit-{limit,remaining}-{requests,tokens}`` and
  ``x-ratelimit-reset-*`` (``6m0s``).
- Codex on chatgpt.com: ``x-codex-{primary,secondary}-used-percent`` with
  ``-reset-at`` (Unix seconds) or ``-reset-after-seconds``.

:func:`parse` reduces them to the most used window: its utilization (0..1),
when it resets, and whether the provider rejected it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .failures import retry_after

PREFIXES = ("anthropic-ratelimit-", "x-ratelimit-", "x-codex-")
_UNIFIED = re.compile(r"^anthropic-ratelimit-unified-([\w-]+?)-(utilization|reset|status)$")
_ANTHROPIC = re.compile(r"^anthropic-ratelimit-([a-z-]+?)-(limit|remaining|reset)$")
_OPENAI = re.compile(r"^x-ratelimit-(limit|remaining|reset)-([a-z-]+)$")
_CODEX = re.compile(r"^x-codex-(\w+)-(used-percent|reset-at|reset-after-seconds)$")


@dataclass(slots=True)
class Window:
    used: float | None = None
    reset: float | None = None
    rejected: bool = False
    limit: float | None = None
    remaining: float | None = None

    def utilization(self) -> float | None:
        if self.used is not None:
            return self.used
        if self.limit and self.remaining is not None:
            return max(0.0, 1.0 - self.remaining / self.limit)
        return None


@dataclass(slots=True)
class Quota:
    utilization: float
    """The most used window's used fraction (0..1)."""
    reset: float | None
    """When that window resets (Unix seconds), if said."""
    rejected: bool
    window: str
    headers: dict[str, str] = field(default_factory=dict)
    """The rate-limit headers as received (for the status page)."""

    def over(self, threshold: float, now: float) -> bool:
        if self.reset is not None and now >= self.reset:
            return False  # the window has reset since
        return self.rejected or self.utilization >= threshold


def parse(headers: Iterable[tuple[str, str]], now: float) -> Quota | None:
    seen = {k.lower(): v.strip() for k, v in headers if k.lower().startswith(PREFIXES)}
    if not seen:
        return None
    windows: dict[str, Window] = {}
    for name, value in seen.items():
        _read(name, value, windows, now)
    rated = [
        (w.rejected, u, name, w)
        for name, w in windows.items()
        if (u := w.utilization()) is not None
    ]
    if not rated:
        return None
    rejected, used, name, window = max(rated, key=lambda r: (r[0], r[1]))
    return Quota(min(used, 1.0), window.reset, rejected, name, seen)


def _read(name: str, value: str, windows: dict[str, Window], now: float) -> None:
    if m := _UNIFIED.match(name):
        w = windows.setdefault(f"unified-{m.group(1)}", Window())
        if m.group(2) == "utilization":
            w.used = _fraction(value)
        elif m.group(2) == "reset":
            w.reset = _number(value)
        else:
            w.rejected = value == "rejected"
    elif m := _CODEX.match(name):
        w = windows.setdefault(f"codex-{m.group(1)}", Window())
        number = _number(value)
        if m.group(2) == "used-percent":
            w.used = None if number is None else number / 100
        elif m.group(2) == "reset-at":
            w.reset = number
        elif number is not None:
            w.reset = now + number
    elif m := _ANTHROPIC.match(name):
        _limits(windows.setdefault(m.group(1), Window()), m.group(2), value, now)
    elif m := _OPENAI.match(name):
        _limits(windows.setdefault(m.group(2), Window()), m.group(1), value, now)


def _limits(window: Window, what: str, value: str, now: float) -> None:
    if what == "limit":
        window.limit = _number(value)
    elif what == "remaining":
        window.remaining = _number(value)
    else:
        window.reset = _timestamp(value, now)


def _timestamp(value: str, now: float) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        seconds = retry_after([("x-ratelimit-reset-", value)], now=now)
        return None if seconds is None else now + seconds


def _fraction(value: str) -> float | None:
    number = _number(value)
    if number is None:
        return None
    return number / 100 if number > 1.0 else number


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None
