"""What the router knows, as gauges read when scraped (never per request):
each configured key's cooldown, each target's breaker, requests in flight,
and each proxy user's and group's spend against its budgets (the policy's
counters: this UTC day and month).

The targets are the config's (every combo entry and route target, one key
each: ``provider#n``), the same the status page lists; native is left out
(it has no keys of ours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.team import DEFAULT_USER, Limits, entry
from omniroute_mitm.engine.route.plan import Attempt, expand
from omniroute_mitm.engine.route.router import Router
from prometheus_client.core import GaugeMetricFamily, Metric

BREAKER_VALUES = {"closed": 0.0, "half-open": 1.0, "open": 2.0}


def configured_attempts(config: Config) -> list[Attempt]:
    """Every key of every target the config routes to, once each."""
    targets = {t for c in config.combos.values() for t in c.names}
    targets.update(r.to for r in config.routes if r.to not in config.combos)
    seen: dict[tuple[str, str], Attempt] = {}
    for target in sorted(targets):
        for attempt in expand(config, target):
            if not attempt.native:
                seen.setdefault((attempt.target, attempt.key_id), attempt)
    return list(seen.values())


class RouterCollector:
    """A prometheus_client collector over the router's state and the engine's
    in-flight counts (``live()``: name -> value). ``config`` and ``router``
    are asked for at each scrape (a reload, or a router on shared state,
    replaces them)."""

    def __init__(
        self,
        config: Callable[[], Config],
        router: Callable[[], Router],
        live: Callable[[], dict[str, float]],
    ) -> None:
        self.config, self.router, self.live = config, router, live
        self._attempts: tuple[Config | None, list[Attempt]] = (None, [])

    def describe(self) -> Iterator[Metric]:
        """Names only (registering must not read the state)."""
        yield from self._families()
        yield from self._budget_families()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        in_flight, streams, upstream, cooldown, cooling, breaker = families
        router = self.router()
        now = router.clock()
        live = self.live()
        in_flight.add_metric([], live.get("requests", 0))
        streams.add_metric([], live.get("streams", 0))
        upstream.add_metric([], live.get("upstream", 0))
        breakers: dict[str, str] = {}
        for attempt in self._configured():
            block = router.block(attempt)
            left = max(0.0, block.until - now) if block is not None else 0.0
            cooldown.add_metric([attempt.target, attempt.key_id], left)
            if block is not None:
                cooling.add_metric([attempt.target, attempt.key_id, block.reason], 1.0)
            if attempt.target not in breakers:
                breakers[attempt.target] = router.health.breaker(attempt.target)[0]
        for target, state in breakers.items():
            breaker.add_metric([target], BREAKER_VALUES.get(state, 0.0))
        yield from families
        yield from self._budgets(router)

    def _budgets(self, router: Router) -> Iterator[Metric]:
        """Spend per user (those config.yaml names, then those this engine
        saw: at most the policy's last 1000) and per group, and the budgets."""
        config = self.config()
        spent_family, budget_family = self._budget_families()
        users = [n for n in config.users if n != DEFAULT_USER] + list(router.policy.seen)
        scopes: list[tuple[str, str, Limits | None]] = [
            ("user", name, entry(config.users, name)) for name in dict.fromkeys(users)
        ]
        scopes += [("group", name, group) for name, group in config.groups.items()]
        for kind, name, limits in scopes:
            spent = router.policy.spent(kind, name)
            for window, key, budget in (("day", "today", "usd_per_day"),
                                        ("month", "month", "usd_per_month")):  # fmt: skip
                spent_family.add_metric([kind, name, window], spent[key])
                limit = getattr(limits, budget, None) if limits is not None else None
                if limit is not None:
                    budget_family.add_metric([kind, name, window], float(limit))
        yield spent_family
        yield budget_family

    @staticmethod
    def _budget_families() -> list[GaugeMetricFamily]:
        labels = ["scope", "name", "window"]
        return [
            GaugeMetricFamily(
                "omniroute_budget_spent_usd",
                "US dollars a proxy user or group spent this UTC day or month",
                labels=labels,
            ),  # fmt: skip
            GaugeMetricFamily(
                "omniroute_budget_usd",
                "A proxy user's or group's budget per day or month (config.yaml)",
                labels=labels,
            ),  # fmt: skip
        ]

    def _configured(self) -> list[Attempt]:
        config = self.config()
        if self._attempts[0] is not config:
            self._attempts = (config, configured_attempts(config))
        return self._attempts[1]

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily("omniroute_in_flight_requests", "Requests being answered now"),
            GaugeMetricFamily(
                "omniroute_in_flight_streams", "Streamed requests being answered now"
            ),  # fmt: skip
            GaugeMetricFamily(
                "omniroute_upstream_in_flight_requests", "Calls to providers open now"
            ),  # fmt: skip
            GaugeMetricFamily(
                "omniroute_cooldown_seconds",
                "Seconds until a key may be used again on a target (0: usable)",
                labels=["target", "key"],
            ),
            GaugeMetricFamily(
                "omniroute_cooling_down",
                "1 for each key cooling down now, with the reason (rate_limited, auth, "
                "model, transient, unreachable, quota)",
                labels=["target", "key", "reason"],
            ),
            GaugeMetricFamily(
                "omniroute_breaker_state",
                "A target's circuit breaker: 0 closed, 1 half-open, 2 open",
                labels=["target"],
            ),
        ]
