"""Strategies: each turns a combo's targets into an order for one request.

Pure functions of what they are given (:class:`Candidate` per target, a
random source and a counter); fallback then walks the rest of the order.
Health (cooldowns, breakers, quota) is applied after the strategy by the
router, so every strategy gets it the same way.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

EXPLORE = 0.1
"""Share of ``latency`` picks that try another target first, so a target that
recovered (or was never measured) gets measured again."""


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    """provider/model or native."""
    weight: float = 1.0
    cost: float | None = None
    window: int | None = None
    healthy: bool = True
    in_flight: int = 0
    uses: int = 0
    success_rate: float | None = None
    ttft_ms: float | None = None
    last_ok: float = 0.0


class Memory(Protocol):
    """What a strategy may remember between requests (the router's store)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    def incr(self, key: str, ttl: float | None = None) -> int: ...


@dataclass(slots=True)
class Context:
    combo: str
    rng: random.Random
    memory: Memory
    tokens: int | Callable[[], int | None] | None = None
    """Estimated input plus maximum output of this request (context-fit); a
    callable is asked when needed."""


Order = list[int]
Strategy = Callable[[Sequence[Candidate], Context], Order]


def priority(cands: Sequence[Candidate], ctx: Context) -> Order:
    return list(range(len(cands)))


def weighted(cands: Sequence[Candidate], ctx: Context) -> Order:
    """Weighted sampling without replacement (a key u^(1/w) per target)."""
    keys = [ctx.rng.random() ** (1.0 / c.weight) for c in cands]
    return sorted(range(len(cands)), key=lambda i: -keys[i])


def round_robin(cands: Sequence[Candidate], ctx: Context) -> Order:
    start = (ctx.memory.incr(f"rr:{ctx.combo}") - 1) % len(cands)
    return [(start + i) % len(cands) for i in range(len(cands))]


def shuffled(cands: Sequence[Candidate], ctx: Context) -> Order:
    order = list(range(len(cands)))
    ctx.rng.shuffle(order)
    return order


def strict_random(cands: Sequence[Candidate], ctx: Context) -> Order:
    """Each target once per shuffled deck before any repeats."""
    key = f"deck:{ctx.combo}:{len(cands)}"
    raw = ctx.memory.get(key)
    deck: list[int] = json.loads(raw) if raw else []
    if not deck:
        deck = list(range(len(cands)))
        ctx.rng.shuffle(deck)
    first = deck.pop(0)
    ctx.memory.set(key, json.dumps(deck))
    rest = [i for i in range(len(cands)) if i != first]
    ctx.rng.shuffle(rest)
    return [first, *rest]


def least_used(cands: Sequence[Candidate], ctx: Context) -> Order:
    return sorted(range(len(cands)), key=lambda i: (cands[i].in_flight, cands[i].uses))


def p2c(cands: Sequence[Candidate], ctx: Context) -> Order:
    """Power of two choices: of two random targets, the one with fewer
    requests in flight (then the better success rate) goes first."""
    if len(cands) < 2:
        return priority(cands, ctx)
    a, b = ctx.rng.sample(range(len(cands)), 2)

    def load(i: int) -> tuple[int, int, float]:
        c = cands[i]
        return (0 if c.healthy else 1, c.in_flight, -(c.success_rate or 1.0))

    first = min((a, b), key=load)
    return [first, *(i for i in range(len(cands)) if i != first)]


def cheapest(cands: Sequence[Candidate], ctx: Context) -> Order:
    return sorted(range(len(cands)), key=lambda i: _or_inf(cands[i].cost))


def latency(cands: Sequence[Candidate], ctx: Context) -> Order:
    """Lowest median time to first token; never-measured targets first."""
    order = sorted(range(len(cands)), key=lambda i: _or_neg(cands[i].ttft_ms))
    if len(order) > 1 and ctx.rng.random() < EXPLORE:
        pick = ctx.rng.randrange(1, len(order))
        order.insert(0, order.pop(pick))
    return order


def lkgp(cands: Sequence[Candidate], ctx: Context) -> Order:
    """Last known good first (then config order)."""
    return sorted(range(len(cands)), key=lambda i: -cands[i].last_ok)


def context_fit(cands: Sequence[Candidate], ctx: Context) -> Order:
    """Config order, without targets whose window is known to be too small
    (all of them kept if none fits: the provider may still accept it)."""
    tokens = ctx.tokens() if callable(ctx.tokens) else ctx.tokens
    if tokens is None:
        return priority(cands, ctx)
    fits = [i for i, c in enumerate(cands) if c.window is None or c.window >= tokens]
    return fits or priority(cands, ctx)


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _or_neg(value: float | None) -> float:
    return -1.0 if value is None else value


STRATEGIES: dict[str, Strategy] = {
    "priority": priority,
    "fill-first": priority,
    "weighted": weighted,
    "round-robin": round_robin,
    "random": shuffled,
    "strict-random": strict_random,
    "least-used": least_used,
    "p2c": p2c,
    "cost": cheapest,
    "latency": latency,
    "lkgp": lkgp,
    "context-fit": context_fit,
}


def keys(name: str, combo: str, size: int) -> list[str]:
    """What strategy ``name`` keeps in the memory for ``combo`` of ``size`` targets."""
    if name == "round-robin":
        return [f"rr:{combo}"]
    if name == "strict-random":
        return [f"deck:{combo}:{size}"]
    return []


def order(name: str, cands: Sequence[Candidate], ctx: Context) -> Order:
    if not cands:
        return []
    return STRATEGIES[name](cands, ctx)
