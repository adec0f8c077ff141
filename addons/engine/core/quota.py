"""How close a key is to its limit, from the headers providers send.

- Anthropic subscriptions: ``anthropic-ratelimit-unified-{5h,7d}-utilization``
  (a fraction) with ``-reset`` (Unix seconds) and ``-status`` (``rejected``
  when the window is exhausted); API keys: ``anthropic-ratelimit-{requests,
  tokens,input-tokens,output-tokens}-{limit,remaining,reset}`` (RFC 3339).
- OpenAI: ``x-ratelimit-{limit,remaining}-{requests,tokens}`` and
  ``x-ratelimit-reset-*`` (``6m0s``).
- Codex on chatgpt.com: ``x-codex-{primary,secondary}-used-percent`` with
  ``-reset-at`` (Unix seconds) or ``-reset-after-seconds``.
- Groq, xAI and other OpenAI-compatible vendors send OpenAI's
  ``x-ratelimit-*`` (Groq's resets read ``2m59.56s``).
- Mistral: ``x-ratelimitbysize-{limit,remaining}-{minute,month}`` (tokens),
  with ``ratelimitbysize-reset`` (seconds) on some answers.
- OpenRouter and others: bare ``x-ratelimit-{limit,remaining,reset}`` (the
  reset as Unix seconds or milliseconds). DeepSeek sends none (no rate limit).

:func:`parse` reduces them to the most used window: its utilization (0..1),
when it resets, and whether the provider rejected it. :func:`retry_after`
reads how long a refused key must wait (Retry-After, the reset headers, or a
reset time in the body).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

PREFIXES = ("anthropic-ratelimit-", "x-ratelimit-", "x-codex-", "x-ratelimitbysize-")
_UNIFIED = re.compile(r"^anthropic-ratelimit-unified-([\w-]+?)-(utilization|reset|status)$")
_ANTHROPIC = re.compile(r"^anthropic-ratelimit-([a-z-]+?)-(limit|remaining|reset)$")
_OPENAI = re.compile(r"^x-ratelimit-(limit|remaining|reset)-([a-z-]+)$")
_BARE = re.compile(r"^x-ratelimit-(limit|remaining|reset)$")
_BYSIZE = re.compile(r"^x-ratelimitbysize-(limit|remaining)-(\w+)$")
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
    elif m := _BYSIZE.match(name):
        _limits(windows.setdefault(f"tokens-{m.group(2)}", Window()), m.group(1), value, now)
    elif m := _BARE.match(name):
        w = windows.setdefault("requests", Window())
        if m.group(1) == "reset":
            w.reset = _epoch(value, now)
        else:
            _limits(w, m.group(1), value, now)


def _epoch(value: str, now: float) -> float | None:
    """A bare reset: Unix milliseconds (OpenRouter), Unix seconds, or seconds from now."""
    number = _number(value)
    if number is None:
        return _timestamp(value, now)
    if number > 1e11:
        return number / 1000
    return number if number > 1e9 else now + number


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


MAX_RESET = 24 * 3600.0
"""Provider-reported resets beyond a day are taken as a day."""


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


_BODY_RETRY = re.compile(
    r'"retryDelay"\s*:\s*"([\d.]+s)"|try again in\s+([\d.]+\s*(?:ms|s|m|h)?)'
    r'|"resets_in_seconds"\s*:\s*(\d+)',
    re.I,
)


def retry_after(
    headers: Iterable[tuple[str, str]], body: str = "", now: float | None = None
) -> float | None:
    """Seconds to wait, from Retry-After(-ms), the providers' reset headers,
    or a reset time in the body; None when nothing says."""
    now = time.time() if now is None else now
    found = [s for name, value in headers if (s := _header_seconds(name, value, now)) is not None]
    if not found and (m := _BODY_RETRY.search(body)):
        text = next(g for g in m.groups() if g)
        found.append(float(text) if text.isdigit() else (_duration(text) or 0.0))
    if not found:
        return None
    return min(max(max(found), 0.0), MAX_RESET)


def _header_seconds(name: str, value: str, now: float) -> float | None:
    name = name.lower()
    if name == "retry-after-ms":
        return _number(value, 0.001)
    if name == "retry-after":
        return _number(value) if value.strip().isdigit() else _http_date(value, now)
    if name.startswith("anthropic-ratelimit-") and name.endswith("-reset"):
        return None  # a reset time is for quota; rejected windows name theirs
    if name.startswith("x-ratelimit-reset-"):
        return _duration(value)
    return None


def _number(value: str, scale: float = 1.0) -> float | None:
    try:
        return float(value.strip()) * scale
    except ValueError:
        return None


def _http_date(value: str, now: float) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


def _duration(value: str) -> float | None:
    """``6m0s``, ``1.5s``, ``20ms``, ``30s`` -> seconds."""
    value = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    parts = _DURATION.findall(value.replace(" ", ""))
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)
