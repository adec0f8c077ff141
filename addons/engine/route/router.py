"""The router: decides the attempts of a request, hears how each went.

``decide`` = route (:mod:`engine.router`) + the combo's strategy
(:mod:`engine.strategies`) + conversation affinity + health (cooldowns,
breakers, quota) -> an ordered list of attempts. The engine walks it and
calls ``report`` with each outcome. All state between requests goes
through one :class:`StateStore`; a shared one (:mod:`.shared`) is brought up
to date with :meth:`Router.prefetch` before ``decide`` (one round trip for
the keys :meth:`Router.keys_for` names).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from omniroute_mitm.engine.core import prices, quota
from omniroute_mitm.engine.core.config import NATIVE, Config, Target

from . import strategies
from .failures import Failure
from .health import Block, Health, Scopes
from .plan import Attempt, expand, route_target
from .policy import Policy
from .state import Clock, MemoryStore, StateStore

QUOTA_TTL = 24 * 3600.0
"""How long a quota window seen without a reset time is remembered."""
KEYS_CACHED = 1024
"""Requests' key lists remembered (per client, model and host)."""


@dataclass(frozen=True, slots=True)
class RouteRequest:
    client: str
    model: str
    host: str | None = None
    conversation: str | None = None
    """Identifies the conversation (affinity); None: no affinity."""
    tokens: int | Callable[[], int | None] | None = None
    """Estimated input plus maximum output tokens (context-fit); a callable is
    asked only when a strategy needs the number (estimating a 1 MB request
    costs milliseconds)."""


@dataclass(slots=True)
class Decision:
    target: str
    """What the route named: a combo, provider/model or native."""
    attempts: list[Attempt]
    request: RouteRequest
    skipped: list[str] = field(default_factory=list)
    """``label: why`` of attempts left out (breaker open)."""
    sticky: str | None = None
    """The affinity key to remember the answering attempt under."""
    sticky_ttl: float = 3600.0
    windows: dict[str, int | None] = field(default_factory=dict)
    """Known context window per target (provider/model)."""

    def larger_window(self, failed: Attempt, attempt: Attempt) -> bool:
        """After ``failed`` said the context is too long: may ``attempt`` hold more?"""
        if attempt.target == failed.target:
            return False
        mine, theirs = self.windows.get(failed.target), self.windows.get(attempt.target)
        return mine is None or theirs is None or theirs > mine


class Router:
    def __init__(
        self,
        store: StateStore | None = None,
        clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.store: StateStore = store or MemoryStore(clock=clock)
        self.health = Health(self.store, clock)
        self.policy = Policy(self.store, clock)
        """Proxy users' allowlists, budgets and rate limits (same store)."""
        self.rng = rng or random.Random()
        self.quota: dict[str, quota.Quota] = {}
        """Last quota seen per key (this process; the status page shows it)."""
        self._keys_config: Config | None = None
        self._keys_cache: dict[tuple[str, str, str | None], tuple[tuple[str, ...], str | None]] = {}

    # ------------------------------------------------------------ decide

    async def prefetch(self, config: Config, req: RouteRequest, extra: Iterable[str] = ()) -> None:
        """A shared store: read what ``decide`` (and the report after it)
        will read, plus ``extra`` keys, in one round trip. Memory: nothing."""
        refresh = getattr(self.store, "refresh", None)
        if refresh is not None:
            await refresh([*self.keys_for(config, req), *extra])

    def keys_for(self, config: Config, req: RouteRequest) -> list[str]:
        """The store keys deciding ``req`` reads (and its outcome writes);
        worked out once per config, client, model and host."""
        if config is not self._keys_config:
            self._keys_config, self._keys_cache = config, {}
        plan = (req.client, req.model, req.host)
        found = self._keys_cache.get(plan)
        if found is None:
            if len(self._keys_cache) >= KEYS_CACHED:
                self._keys_cache.clear()
            found = self._keys_cache[plan] = self._plan_keys(config, req)
        keys, sticky = found
        if sticky is not None and req.conversation:
            return [*keys, f"aff:{sticky}:{req.conversation}"]
        return list(keys)

    def _plan_keys(self, config: Config, req: RouteRequest) -> tuple[tuple[str, ...], str | None]:
        """The keys of the plan of ``req`` but its conversation's, and the
        combo whose affinity key it reads too (a sticky one)."""
        target = route_target(config, req.client, req.model, req.host)
        combo = config.combos.get(target)
        keys: list[str] = []
        if combo is not None:
            keys += strategies.keys(combo.strategy, target, len(combo.entries))
        for entry in combo.entries if combo else [Target(to=target)]:
            attempts = expand(config, entry.to)
            if len(attempts) > 1 and attempts[0].provider is not None:
                keys.append(f"keys:{attempts[0].provider_name}")
            for attempt in attempts:
                keys += self.health.keys(attempt.label, self.scopes(attempt))
                keys.append(f"quota:{self.quota_scope(attempt, req)}")
        return tuple(keys), target if combo is not None and combo.sticky else None

    def decide(self, config: Config, req: RouteRequest) -> Decision:
        target = route_target(config, req.client, req.model, req.host)
        combo = config.combos.get(target)
        entries = combo.entries if combo else [Target(to=target)]
        groups = [self._keys(config, expand(config, e.to)) for e in entries]
        cands = [self._candidate(config, e, g) for e, g in zip(entries, groups, strict=True)]
        ctx = strategies.Context(target, self.rng, self.store, req.tokens)
        picked = strategies.order(combo.strategy if combo else "priority", cands, ctx)
        attempts = [a for i in picked for a in groups[i]]
        decision = Decision(target, attempts, req)
        decision.windows = {c.name: c.window for c in cands}
        if combo is not None and combo.sticky and req.conversation:
            decision.sticky = f"aff:{target}:{req.conversation}"
            decision.sticky_ttl = config.resilience.affinity_ttl
            self._stick(decision)
        self._apply_health(config, decision)
        del decision.attempts[config.resilience.max_attempts :]
        return decision

    def _keys(self, config: Config, attempts: tuple[Attempt, ...]) -> list[Attempt]:
        if len(attempts) < 2 or attempts[0].provider is None:
            return list(attempts)
        if attempts[0].provider.key_strategy == "round-robin":
            start = (self.store.incr(f"keys:{attempts[0].provider_name}") - 1) % len(attempts)
            return [*attempts[start:], *attempts[:start]]
        return list(attempts)

    def _candidate(
        self, config: Config, entry: Target, group: list[Attempt]
    ) -> strategies.Candidate:
        stats = [self.health.stat(a.label) for a in group]
        rates = [s.success_rate for s in stats if s.success_rate is not None]
        ttfts = [t for s in stats if (t := s.median_ttft_ms) is not None]
        provider = group[0].provider if group else None
        return strategies.Candidate(
            name=entry.to,
            weight=entry.weight,
            cost=entry.cost if entry.cost is not None else getattr(provider, "cost", None),
            window=entry.context_window
            or getattr(provider, "context_window", None)
            or _known_window(group),
            healthy=bool(group) and any(self._usable(a) for a in group),
            in_flight=sum(s.in_flight for s in stats),
            uses=sum(s.uses for s in stats),
            success_rate=min(rates) if rates else None,
            ttft_ms=min(ttfts) if ttfts else None,
            last_ok=max((s.last_ok for s in stats), default=0.0),
        )

    def _usable(self, attempt: Attempt) -> bool:
        scopes = self.scopes(attempt)
        return self.health.blocked(scopes) is None and (
            self.health.breaker(scopes.target)[0] == "closed"
        )

    def _stick(self, decision: Decision) -> None:
        assert decision.sticky is not None
        label = self.store.get(decision.sticky)
        for i, attempt in enumerate(decision.attempts):
            if attempt.label == label and self._usable(attempt):
                decision.attempts.insert(0, decision.attempts.pop(i))
                return

    def _apply_health(self, config: Config, decision: Decision) -> None:
        """Healthy attempts keep their order; those near their quota go after
        them, cooling ones last (soonest first); open breakers are left out."""
        ready: list[Attempt] = []
        near_limit: list[Attempt] = []
        cooling: list[tuple[float, Attempt]] = []
        probes: dict[str, bool] = {}
        for attempt in decision.attempts:
            scopes = self.scopes(attempt)
            state, until = self.health.breaker(scopes.target)
            if state == "half-open" and scopes.target not in probes:
                probes[scopes.target] = self.health.take_probe(scopes.target, config.resilience)
            if state == "open" or (state == "half-open" and not probes[scopes.target]):
                decision.skipped.append(f"{attempt.label}: breaker open")
                continue
            block = self.health.blocked(scopes)
            if block is not None:
                cooling.append((block.until, attempt))
            elif self._near_limit(attempt, decision.request, config):
                near_limit.append(attempt)
            else:
                ready.append(attempt)
        cooling.sort(key=lambda pair: pair[0])
        decision.attempts = ready + near_limit + [a for _, a in cooling]

    def _near_limit(self, attempt: Attempt, req: RouteRequest, config: Config) -> bool:
        raw = self.store.get(f"quota:{self.quota_scope(attempt, req)}")
        if raw is None:
            return False
        shared = json.loads(raw)  # as _take_quota wrote it, maybe on another instance
        seen = quota.Quota(shared["used"], shared["reset"], shared["rejected"], "")
        return seen.over(config.resilience.quota_threshold, self.clock())

    # ------------------------------------------------------------ report

    def started(self, attempt: Attempt) -> None:
        self.health.started(attempt.label)

    def succeeded(
        self,
        decision: Decision,
        attempt: Attempt,
        ttft_ms: float | None,
        headers: Any = (),
    ) -> None:
        self.health.ended(attempt.label)
        self.health.success(attempt.label, self.scopes(attempt), ttft_ms)
        self._take_quota(decision, attempt, headers)
        if decision.sticky is not None:
            self.store.set(decision.sticky, attempt.label, decision.sticky_ttl)

    def failed(
        self,
        config: Config,
        decision: Decision,
        attempt: Attempt,
        failure: Failure,
        headers: Any = (),
    ) -> None:
        self.health.ended(attempt.label)
        self.health.failure(attempt.label, self.scopes(attempt), failure, config.resilience)
        seen = self._take_quota(decision, attempt, headers)
        if seen is not None and seen.rejected and seen.reset is not None:
            self.health.cool_until(self.scopes(attempt).key_model, "quota", seen.reset)

    def ended(self, attempt: Attempt) -> None:
        """The client went away: neither success nor failure."""
        self.health.ended(attempt.label)

    def _take_quota(self, decision: Decision, attempt: Attempt, headers: Any) -> quota.Quota | None:
        seen = quota.parse(headers, self.clock())
        if seen is not None:
            scope = self.quota_scope(attempt, decision.request)
            if len(self.quota) > 10_000:
                self.quota.clear()
            self.quota[scope] = seen
            shared = {"used": seen.utilization, "reset": seen.reset, "rejected": seen.rejected}
            left = QUOTA_TTL if seen.reset is None else seen.reset - self.clock()
            if left > 0:
                self.store.set(f"quota:{scope}", json.dumps(shared), min(left, QUOTA_TTL))
        return seen

    # ------------------------------------------------------------ naming

    @staticmethod
    def scopes(attempt: Attempt) -> Scopes:
        return Scopes(attempt.target, attempt.key_id)

    @staticmethod
    def quota_scope(attempt: Attempt, req: RouteRequest) -> str:
        """Per key; native per destination host (the user's own subscription)."""
        if attempt.native:
            return f"{NATIVE}@{req.host or '?'}"
        return attempt.key_id

    def block(self, attempt: Attempt) -> Block | None:
        return self.health.blocked(self.scopes(attempt))


def _known_window(group: list[Attempt]) -> int | None:
    """The model's context window from the price data (LiteLLM's map)."""
    if not group or group[0].provider is None:
        return None
    return prices.context_window(group[0].provider.base_url, group[0].model)
