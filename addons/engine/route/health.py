"""What the router remembers about each target and key: cooldowns, breakers,
quota, recent outcomes.

Cooldowns, breakers and failure counts go through the :class:`StateStore`
(shared-able), and so do recent outcomes, time to first token and the last
success (``stats:<label>``, JSON, the last writer's samples win) and the use
counts (``uses:<label>``); requests in flight are this process's own
(:class:`Stats`).

Scopes: ``provider#n:model`` (a key on a model: rate limits, backoff),
``provider#n`` (a key: auth), ``provider/model`` (a target: a model locked
out, the breaker). Native is the target ``native`` with the key ``native``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from omniroute_mitm.engine.core.config import Resilience

from .failures import Failure
from .state import Clock, MemoryStore, StateStore

BreakerState = Literal["closed", "open", "half-open"]
SAMPLES = 50
STATS_TTL = 24 * 3600.0
"""Measurements nobody refreshed for this long are forgotten."""


@dataclass(frozen=True, slots=True)
class Scopes:
    target: str
    """provider/model (or native)."""
    key: str
    """provider#n (or native)."""

    @property
    def key_model(self) -> str:
        return f"{self.key}:{self.target}"

    @property
    def provider(self) -> str:
        return "provider:" + self.key.partition("#")[0]


@dataclass(frozen=True, slots=True)
class Block:
    until: float
    reason: str
    """rate_limited, auth, model, transient, breaker, quota."""


@dataclass
class Stats:
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    ttft_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    in_flight: int = 0
    uses: int = 0
    last_ok: float = 0.0
    seen: str | None = None
    """The store's ``stats:`` value last read into this object."""

    @property
    def success_rate(self) -> float | None:
        return sum(self.outcomes) / len(self.outcomes) if self.outcomes else None

    @property
    def median_ttft_ms(self) -> float | None:
        return statistics.median(self.ttft_ms) if self.ttft_ms else None


class Health:
    def __init__(self, store: StateStore, clock: Clock = time.time) -> None:
        self.store = store
        self.clock = clock
        self.stats: dict[str, Stats] = {}
        self._own = isinstance(store, MemoryStore)
        """This process's own store: the ``stats:`` values are not written to
        it (only this object would read them back, and it holds them already)."""

    def stat(self, name: str) -> Stats:
        stats = self.stats.get(name)
        if stats is None:
            if len(self.stats) > 10_000:  # configs come and go; keep it bounded
                self.stats.clear()
            stats = self.stats[name] = Stats()
        raw = self.store.get(f"stats:{name}")
        if raw is not None and raw != stats.seen:  # measured since (maybe elsewhere)
            data = json.loads(raw)
            stats.outcomes = deque(data["ok"], maxlen=SAMPLES)
            stats.ttft_ms = deque(data["ttft"], maxlen=SAMPLES)
            stats.last_ok = float(data["last_ok"])
            stats.seen = raw
        uses = self.store.get(f"uses:{name}")
        if uses is not None:
            stats.uses = int(uses)
        return stats

    def _measured(self, label: str, stats: Stats) -> None:
        if self._own:
            return  # nobody else reads them: this object is the measurement
        raw = json.dumps(
            {"ok": list(stats.outcomes), "ttft": list(stats.ttft_ms), "last_ok": stats.last_ok}
        )
        stats.seen = raw
        self.store.set(f"stats:{label}", raw, STATS_TTL)

    # ------------------------------------------------------------ reading

    @staticmethod
    def keys(label: str, scopes: Scopes) -> list[str]:
        """The store keys reading and reporting on this attempt touch."""
        names = (scopes.key_model, scopes.key, scopes.target, scopes.provider)
        return [
            f"stats:{label}",
            f"uses:{label}",
            *(f"cool:{name}" for name in names),
            f"strikes:{scopes.key_model}",
            f"strikes:{scopes.provider}",
            f"breaker:{scopes.target}",
            f"probe:{scopes.target}",
            f"fails:{scopes.target}",
        ]

    def blocked(self, scopes: Scopes) -> Block | None:
        """The latest-ending cooldown on any scope of this attempt."""
        blocks = [
            b
            for name in (scopes.key_model, scopes.key, scopes.target, scopes.provider)
            if (b := self._read_block(f"cool:{name}")) is not None
        ]
        return max(blocks, key=lambda b: b.until) if blocks else None

    def breaker(self, target: str) -> tuple[BreakerState, float]:
        """(state, until): open until ``until``, then half-open (one probe)."""
        raw = self.store.get(f"breaker:{target}")
        if raw is None:
            return "closed", 0.0
        until = float(raw)
        return ("open", until) if self.clock() < until else ("half-open", until)

    def take_probe(self, target: str, settings: Resilience) -> bool:
        """Only one request probes a half-open breaker at a time."""
        return self.store.incr(f"probe:{target}", ttl=settings.breaker_reset) == 1

    # ------------------------------------------------------------ writing

    def started(self, label: str) -> None:
        stats = self.stat(label)
        stats.in_flight += 1
        stats.uses = self.store.incr(f"uses:{label}")

    def ended(self, label: str) -> None:
        stats = self.stat(label)
        stats.in_flight = max(0, stats.in_flight - 1)

    def success(self, label: str, scopes: Scopes, ttft_ms: float | None) -> None:
        stats = self.stat(label)
        stats.outcomes.append(True)
        stats.last_ok = self.clock()
        if ttft_ms is not None:
            stats.ttft_ms.append(ttft_ms)
        self._measured(label, stats)
        for scope in (scopes.key_model, scopes.provider):
            self.store.delete(f"cool:{scope}")
            self.store.delete(f"strikes:{scope}")
        if self.store.get(f"breaker:{scopes.target}") is not None:
            for key in (f"breaker:{scopes.target}", f"probe:{scopes.target}"):
                self.store.delete(key)
        self.store.delete(f"fails:{scopes.target}")

    def failure(self, label: str, scopes: Scopes, failure: Failure, settings: Resilience) -> None:
        if not failure.falls_back or failure.kind == "context":
            return  # the request's own fault, or a window too small: no penalty
        stats = self.stat(label)
        stats.outcomes.append(False)
        self._measured(label, stats)
        if failure.kind == "rate_limited":
            self._cool(scopes.key_model, "rate_limited", failure.retry_after, settings)
        elif failure.kind == "auth":
            self._set_block(scopes.key, "auth", settings.auth_cooldown)
        elif failure.kind == "model":
            self._set_block(scopes.target, "model", settings.model_lockout)
        else:
            scope = scopes.provider if failure.provider_wide else scopes.key_model
            self._cool(
                scope, "unreachable" if failure.provider_wide else "transient", None, settings
            )
            self._count_toward_breaker(scopes.target, settings)

    def cool_until(self, scope: str, reason: str, until: float) -> None:
        """A cooldown until a known time (a rejected quota window's reset)."""
        self._set_block(scope, reason, until - self.clock())

    def _cool(self, scope: str, reason: str, told: float | None, settings: Resilience) -> None:
        strikes = self.store.incr(f"strikes:{scope}", ttl=settings.backoff_max * 4)
        if told is not None:
            seconds = told
        elif reason == "rate_limited":
            seconds = min(
                settings.rate_limit_cooldown * 2 ** (strikes - 1), settings.rate_limit_max
            )
        else:
            seconds = min(settings.backoff * 2 ** (strikes - 1), settings.backoff_max)
        self._set_block(scope, reason, seconds)

    def _count_toward_breaker(self, target: str, settings: Resilience) -> None:
        state, _ = self.breaker(target)
        fails = self.store.incr(f"fails:{target}", ttl=settings.breaker_window)
        if state == "half-open" or fails >= settings.breaker_failures:
            until = self.clock() + settings.breaker_reset
            self.store.set(f"breaker:{target}", repr(until), ttl=settings.breaker_reset * 20)
            self.store.delete(f"probe:{target}")
            self.store.delete(f"fails:{target}")

    def _set_block(self, scope: str, reason: str, seconds: float) -> None:
        if seconds <= 0:
            return
        until = self.clock() + seconds
        value = json.dumps({"until": until, "reason": reason})
        self.store.set(f"cool:{scope}", value, ttl=seconds)

    def _read_block(self, key: str) -> Block | None:
        raw = self.store.get(key)
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        if data["until"] <= self.clock():
            return None
        return Block(float(data["until"]), str(data["reason"]))
