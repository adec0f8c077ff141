"""The metrics: what one closed record counts, how label values stay bounded,
and the router's state read at scrape time (parsed back with
prometheus_client's own text parser, as a scraper would)."""

from __future__ import annotations

from textwrap import dedent

import pytest
from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.core.prices import Tokens
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.core.team import Group, User
from omniroute_mitm.engine.record.metrics import MAX_USERS, Metrics
from omniroute_mitm.engine.record.router_metrics import RouterCollector
from omniroute_mitm.engine.route.failures import Failure
from omniroute_mitm.engine.route.policy import member
from omniroute_mitm.engine.route.router import Router
from prometheus_client.parser import text_string_to_metric_families

CONFIG = parse_config(dedent("""
    providers:
      one: {format: openai-chat, base_url: "http://127.0.0.1:9/v1", keys: [k1, k2],
            models: [m1, m1-mini]}
      two: {format: anthropic, base_url: "http://127.0.0.1:9/v1", keys: [k3]}
    combos:
      pair: {targets: [one/m1, two/m2]}
    routes:
      - match: {model: "pair"}
        to: pair
      - match: {model: "claude-*"}
        to: two/m3
    resilience: {breaker_failures: 2, breaker_reset: 30}
    """), env={})  # fmt: skip


def samples(metrics: Metrics) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape: (name, labels) -> value."""
    body, media = metrics.render()
    assert media.startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def names(found: dict, name: str, label: str) -> set[str]:
    return {dict(key)[label] for n, key in found if n == name}


def record(**kw) -> Record:
    base: dict = dict(model="pair", target="pair", provider="one", upstream_model="m1",
                      status=200, stream=True, attempts=["one/m1"],
                      tokens=Tokens(input=100, output=40, cache_read=20, cache_write=8,
                                    reasoning=10),
                      first_byte_ms=420.0, duration_ms=2500.0, cost=0.0123)  # fmt: skip
    base.update(kw)
    return Record(1, base.pop("client", "anthropic"), base.pop("kind", "generate"), **base)


def test_one_answered_stream_counts_its_request_tokens_cost_and_times():
    metrics = Metrics()
    metrics.observe(record(), CONFIG)
    found = samples(metrics)
    assert value(found, "omniroute_requests_total", client="anthropic", kind="generate",
                 route="pair", provider="one", outcome="ok") == 1  # fmt: skip
    tokens = {c: value(found, "omniroute_tokens_total", provider="one", model="m1", **{"class": c})
              for c in ("input", "output", "cache_read", "cache_write", "reasoning")}  # fmt: skip
    assert tokens == {"input": 100, "output": 40, "cache_read": 20, "cache_write": 8,
                      "reasoning": 10}  # fmt: skip
    assert value(found, "omniroute_cost_usd_total", provider="one", model="m1") == 0.0123
    # 0.42 s: in the 0.5 s bucket, not in the 0.25 s one
    ttft = dict(route="pair", provider="one")
    assert value(found, "omniroute_time_to_first_token_seconds_bucket", le="0.25", **ttft) == 0
    assert value(found, "omniroute_time_to_first_token_seconds_bucket", le="0.5", **ttft) == 1
    assert value(found, "omniroute_time_to_first_token_seconds_sum", **ttft) == 0.42
    total = dict(route="pair", provider="one", stream="true")
    assert value(found, "omniroute_request_duration_seconds_bucket", le="2.5", **total) == 1
    assert value(found, "omniroute_request_duration_seconds_bucket", le="1.0", **total) == 0
    assert value(found, "omniroute_user_requests_total", user="-", group="-") == 1
    assert value(found, "omniroute_user_cost_usd_total", user="-", group="-") == 0.0123
    assert not any(n == "omniroute_errors_total" for n, _ in found)
    assert not any(n.endswith("_created") for n, _ in found)  # no start time per series


def test_a_fallback_counts_from_and_to_with_the_failure_class():
    metrics = Metrics()
    metrics.observe(record(attempts=["one/m1", "one/m1#2", "two/m2"], provider="two",
                           upstream_model="m2", failures=["one/m1: 429", "one/m1#2: 503"],
                           failure_kinds=["rate_limited", "transient"]), CONFIG)  # fmt: skip
    found = samples(metrics)
    assert value(found, "omniroute_fallbacks_total", from_provider="one", to_provider="one",
                 **{"class": "rate_limited"}) == 1  # fmt: skip
    assert value(found, "omniroute_fallbacks_total", from_provider="one", to_provider="two",
                 **{"class": "transient"}) == 1  # fmt: skip
    assert value(found, "omniroute_requests_total", client="anthropic", kind="generate",
                 route="pair", provider="two", outcome="ok") == 1  # fmt: skip


def test_an_error_counts_by_its_class_and_a_combo_that_all_failed_falls_back_to_none():
    metrics = Metrics()
    metrics.observe(record(status=503, error="all failed", error_class="overloaded", tokens=None,
                           provider="", attempts=["one/m1"], failures=["one/m1: 429"],
                           failure_kinds=["rate_limited"], cost=None), CONFIG)  # fmt: skip
    metrics.observe(record(status=400, error="bad", error_class="invalid_request", tokens=None,
                           cost=None, client="openai-chat"), CONFIG)  # fmt: skip
    found = samples(metrics)
    assert value(found, "omniroute_errors_total", client="anthropic", route="pair",
                 **{"class": "overloaded"}) == 1  # fmt: skip
    assert value(found, "omniroute_errors_total", client="openai-chat", route="pair",
                 **{"class": "invalid_request"}) == 1  # fmt: skip
    assert value(found, "omniroute_fallbacks_total", from_provider="one", to_provider="-",
                 **{"class": "rate_limited"}) == 1  # fmt: skip
    outcomes = names(found, "omniroute_requests_total", "outcome")
    assert outcomes == {"error", "client_error"}
    # nothing answered: no tokens, no time to first token
    assert not [n for n, _ in found if n in ("omniroute_tokens_total",
                                             "omniroute_time_to_first_token_seconds_count")]


def test_continued_streams_count_where_they_were_continued():
    metrics = Metrics()
    metrics.observe(record(continued=["continued on two/m2 after 12 events (stalled)"]), CONFIG)
    metrics.observe(record(continued=["continued on one/m1#2 after 3 events (cut)",
                                      "ended with its whole tool calls after 9 events (cut)"]),
                    CONFIG)  # fmt: skip
    found = samples(metrics)
    assert value(found, "omniroute_continuations_total", provider="two", how="continued") == 1
    assert value(found, "omniroute_continuations_total", provider="one", how="continued") == 1
    assert value(found, "omniroute_continuations_total", provider="-",
                 how="ended_with_tool_calls") == 1  # fmt: skip


def test_a_client_that_left_is_cancelled_not_an_error():
    metrics = Metrics()
    metrics.observe(record(status=499, error="client disconnected"), CONFIG)
    found = samples(metrics)
    assert names(found, "omniroute_requests_total", "outcome") == {"cancelled"}
    assert not any(n == "omniroute_errors_total" for n, _ in found)


@pytest.mark.parametrize(
    ("target", "model", "route", "model_label"),
    [
        ("pair", "m1", "pair", "m1"),  # a combo and a model the config names
        ("two/m3", "m3", "two/m3", "m3"),  # a route's target
        ("one/m1-mini", "m1-mini", "one/m1-mini", "m1-mini"),  # in the provider's models
        ("one/anything-a-client-typed", "anything-a-client-typed", "one/other", "other"),
        ("nowhere/x", "x", "other", "other"),
    ],
)
def test_label_values_come_from_the_config_else_a_bucket(target, model, route, model_label):
    metrics = Metrics()
    metrics.observe(record(target=target, upstream_model=model, model=model), CONFIG)
    found = samples(metrics)
    assert names(found, "omniroute_requests_total", "route") == {route}
    assert names(found, "omniroute_tokens_total", "model") == {model_label}


def test_a_thousand_made_up_models_make_one_series_not_a_thousand():
    metrics = Metrics()
    for i in range(1000):
        metrics.observe(record(target=f"one/made-up-{i}", upstream_model=f"made-up-{i}",
                               provider="one"), CONFIG)  # fmt: skip
    found = samples(metrics)
    requests = [k for n, k in found if n == "omniroute_requests_total"]
    assert len(requests) == 1
    assert value(found, "omniroute_requests_total", client="anthropic", kind="generate",
                 route="one/other", provider="one", outcome="ok") == 1000  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "label"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),  # in the price table
        ("claude-sonnet-4-5-20250101", "claude-sonnet-4-5"),  # any date: the alias
        ("claude-made-up-9", "other"),
    ],
)
def test_native_models_are_the_price_tables_names_else_other(asked, label):
    metrics = Metrics()
    metrics.observe(record(target="native", provider="native/anthropic", attempts=["native"],
                           upstream_model=asked, model=asked), CONFIG)  # fmt: skip
    assert names(samples(metrics), "omniroute_tokens_total", "model") == {label}


def test_native_traffic_keeps_its_vendor_and_odd_names_are_bucketed():
    metrics = Metrics()
    metrics.observe(record(target="native", provider="native/anthropic", attempts=["native"],
                           upstream_model="claude-x"), CONFIG)  # fmt: skip
    metrics.observe(record(target="native", provider="native/a b{c}", attempts=["native"]),
                    CONFIG)  # fmt: skip
    found = samples(metrics)
    assert names(found, "omniroute_requests_total", "provider") == {
        "native/anthropic", "native/other"}  # fmt: skip


def test_use_per_user_and_group():
    metrics = Metrics()
    metrics.observe(record(cost=0.5, user="alice", group="dev"), CONFIG)
    metrics.observe(record(cost=0.25, user="alice", group="dev"), CONFIG)
    metrics.observe(record(cost=1.0, user="bob"), CONFIG)
    found = samples(metrics)
    assert value(found, "omniroute_user_cost_usd_total", user="alice", group="dev") == 0.75
    assert value(found, "omniroute_user_requests_total", user="alice", group="dev") == 2
    assert value(found, "omniroute_user_cost_usd_total", user="bob", group="-") == 1.0
    assert value(found, "omniroute_user_tokens_total", user="bob", group="-") == 168


def test_users_beyond_the_cap_share_one_bucket():
    metrics = Metrics()
    for i in range(MAX_USERS + 50):
        metrics.observe(record(user=f"user{i}"), CONFIG)
    found = samples(metrics)
    users = names(found, "omniroute_user_requests_total", "user")
    assert len(users) == MAX_USERS + 1 and "other" in users
    assert value(found, "omniroute_user_requests_total", user="other", group="-") == 50


def test_users_the_config_names_keep_their_label_past_the_cap():
    config = CONFIG.model_copy(update={"users": {"alice": User(group="dev")},
                                       "groups": {"dev": Group()}})
    metrics = Metrics()
    for i in range(MAX_USERS + 1):
        metrics.observe(record(user=f"user{i}", group="ops"), config)
    metrics.observe(record(cost=2.0, user="alice", group="dev"), config)
    found = samples(metrics)
    assert value(found, "omniroute_user_cost_usd_total", user="alice", group="dev") == 2.0


def test_two_engines_in_one_process_count_apart():
    first, second = Metrics(), Metrics()
    first.observe(record(), CONFIG)
    assert value(samples(first), "omniroute_requests_total", client="anthropic", kind="generate",
                 route="pair", provider="one", outcome="ok") == 1  # fmt: skip
    assert not any(n == "omniroute_requests_total" for n, _ in samples(second))


def test_openmetrics_when_the_scraper_asks_for_it():
    metrics = Metrics()
    metrics.observe(record(), CONFIG)
    body, media = metrics.render("application/openmetrics-text; version=1.0.0")
    assert media.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


# ------------------------------------------------------------- router state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def collector(router: Router, live: dict | None = None) -> Metrics:
    metrics = Metrics()
    metrics.watch(RouterCollector(lambda: CONFIG, lambda: router, lambda: live or {}))
    return metrics


def fail(router: Router, label: str, failure: Failure) -> None:
    from omniroute_mitm.engine.route.plan import expand

    attempt = next(a for t in ("one/m1", "two/m2", "two/m3") for a in expand(CONFIG, t)
                   if a.label == label)  # fmt: skip
    router.health.failure(attempt.label, router.scopes(attempt), failure, CONFIG.resilience)


def test_cooldowns_and_breakers_are_read_when_scraped():
    clock = Clock()
    router = Router(clock=clock)
    metrics = collector(router, {"requests": 3, "streams": 2, "upstream": 1})
    found = samples(metrics)
    every_key = {(dict(k)["target"], dict(k)["key"]) for n, k in found
                 if n == "omniroute_cooldown_seconds"}  # fmt: skip
    assert every_key == {("one/m1", "one#1"), ("one/m1", "one#2"), ("two/m2", "two#1"),
                         ("two/m3", "two#1")}  # fmt: skip
    assert value(found, "omniroute_in_flight_streams") == 2
    assert value(found, "omniroute_in_flight_requests") == 3
    assert value(found, "omniroute_breaker_state", target="two/m2") == 0

    fail(router, "one/m1", Failure("rate_limited", 429, retry_after=30))
    fail(router, "two/m2", Failure("transient", 502))
    fail(router, "two/m2", Failure("transient", 502))  # breaker_failures: 2
    found = samples(metrics)
    assert value(found, "omniroute_cooldown_seconds", target="one/m1", key="one#1") == 30
    assert value(found, "omniroute_cooldown_seconds", target="one/m1", key="one#2") == 0
    assert value(found, "omniroute_cooling_down", target="one/m1", key="one#1",
                 reason="rate_limited") == 1  # fmt: skip
    assert value(found, "omniroute_breaker_state", target="two/m2") == 2  # open
    assert value(found, "omniroute_breaker_state", target="two/m3") == 0

    clock.now += 31  # the cooldown is over, the breaker half-open
    found = samples(metrics)
    assert value(found, "omniroute_cooldown_seconds", target="one/m1", key="one#1") == 0
    assert not any(n == "omniroute_cooling_down" for n, _ in found)
    assert value(found, "omniroute_breaker_state", target="two/m2") == 1


TEAM = parse_config(dedent("""
    providers:
      one: {format: openai-chat, base_url: "http://127.0.0.1:9/v1", keys: [k1]}
    routes:
      - match: {model: "*"}
        to: one/m1
    users:
      alice: {group: dev, usd_per_day: 5}
      "*": {usd_per_month: 100}
    groups:
      dev: {usd_per_month: 50}
    """), env={})  # fmt: skip


def test_budget_use_per_user_and_group_is_read_when_scraped():
    router = Router(clock=Clock())
    metrics = Metrics()
    metrics.watch(RouterCollector(lambda: TEAM, lambda: router, dict))
    alice, bob = member(TEAM, "alice"), member(TEAM, "bob")
    assert alice is not None and bob is not None
    router.policy.admit(bob, "m1", "one/m1", [])  # seen: listed with the "*" budget
    router.policy.settle(alice, record(cost=1.25, user="alice", group="dev"))
    router.policy.settle(alice, record(cost=0.5, user="alice", group="dev"))
    router.policy.settle(bob, record(cost=2.0, user="bob"))
    found = samples(metrics)
    spent = {(dict(k)["scope"], dict(k)["name"], dict(k)["window"]): v
             for (n, k), v in found.items() if n == "omniroute_budget_spent_usd"}  # fmt: skip
    assert spent == {("user", "alice", "day"): 1.75, ("user", "alice", "month"): 1.75,
                     ("user", "bob", "day"): 2.0, ("user", "bob", "month"): 2.0,
                     ("group", "dev", "day"): 1.75, ("group", "dev", "month"): 1.75}  # fmt: skip
    budgets = {(dict(k)["scope"], dict(k)["name"], dict(k)["window"]): v
               for (n, k), v in found.items() if n == "omniroute_budget_usd"}  # fmt: skip
    assert budgets == {("user", "alice", "day"): 5, ("user", "bob", "month"): 100,
                       ("group", "dev", "month"): 50}  # fmt: skip
