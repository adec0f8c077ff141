"""Proxy users' policy (engine.route.policy): allow/deny lists, budgets in USD
per day and month, rate limits per minute; a fake clock drives the windows."""

from __future__ import annotations

import datetime as dt

import pytest
from omniroute_mitm.engine.core.config import ConfigError, parse_config
from omniroute_mitm.engine.core.errors import EngineError
from omniroute_mitm.engine.core.prices import Tokens
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.route.plan import expand
from omniroute_mitm.engine.route.policy import Member, Policy, member
from omniroute_mitm.engine.route.state import MemoryStore

CONFIG = """
providers:
  a: {format: openai-chat, base_url: "http://127.0.0.1:1/v1", keys: [k]}
  b: {format: anthropic, base_url: "http://127.0.0.1:2", keys: [k]}
combos:
  fast: {targets: [a/small, b/haiku]}
groups:
  dev: {usd_per_day: 1.0, requests_per_minute: 100}
users:
  alice: {group: dev, usd_per_day: 0.5, usd_per_month: 2.0}
  bob: {group: dev, deny: ["b/*", "claude-opus-*"]}
  carol: {allow: ["a/*"]}
  dana: {requests_per_minute: 3, tokens_per_minute: 1000}
  "*": {usd_per_day: 0.1}
"""
NOON = dt.datetime(2026, 12, 7, 12, 0, 30, tzinfo=dt.UTC).timestamp()


class Clock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup():
    config = parse_config(CONFIG)
    clock = Clock()
    return config, clock, Policy(MemoryStore(clock=clock), clock)


def legs(config, target="fast"):
    combo = config.combos.get(target)
    names = combo.names if combo else [target]
    return [a for n in names for a in expand(config, n)]


def spend(policy: Policy, who: Member, cost: float, tokens: int = 0) -> None:
    record = Record(1, "openai-chat", "generate")
    record.cost, record.tokens = cost, Tokens(input=tokens)
    policy.settle(who, record)


def refused(call) -> EngineError:
    with pytest.raises(EngineError) as info:
        call()
    return info.value


def test_a_denied_model_is_a_403_naming_the_rule(setup):
    config, _, policy = setup
    bob = member(config, "bob")
    err = refused(lambda: policy.admit(bob, "claude-opus-4", "fast", legs(config)))
    assert err.status == 403
    assert "users.bob.deny has 'claude-opus-*'" in err.message


def test_a_denied_target_leaves_the_combo_and_the_rest_answers(setup):
    config, _, policy = setup
    kept = policy.admit(member(config, "bob"), "fast", "fast", legs(config))
    assert [a.target for a in kept] == ["a/small"]


def test_an_allowlist_keeps_only_the_targets_it_names(setup):
    config, _, policy = setup
    carol = member(config, "carol")
    assert [a.target for a in policy.admit(carol, "fast", "fast", legs(config))] == ["a/small"]
    err = refused(lambda: policy.admit(carol, "haiku", "b/haiku", legs(config, "b/haiku")))
    assert err.status == 403 and "not in users.carol.allow" in err.message


def test_the_request_that_crosses_the_budget_is_the_last_one_let_through(setup):
    config, clock, policy = setup
    alice = member(config, "alice")
    admitted, err = 0, None
    for _ in range(10):
        try:
            policy.admit(alice, "fast", "fast", legs(config))
        except EngineError as exc:
            err = exc
            break
        admitted += 1
        spend(policy, alice, 0.2)  # 0.2, 0.4, 0.6 (crosses 0.5): the third is the last
    assert admitted == 3 and err is not None
    assert err.status == 429
    assert "user alice has spent $0.6000 of the budget of $0.50 per day" in err.message
    assert "users.alice.usd_per_day" in err.message and "2026-12-08T00:00:00Z" in err.message
    headers = dict(err.reply_headers)  # type: ignore[attr-defined]
    assert int(headers["retry-after"]) == 12 * 3600 - 30
    assert headers["x-should-retry"] == "false"  # the SDKs give up at once
    clock.now += 12 * 3600  # the next UTC day
    policy.admit(alice, "fast", "fast", legs(config))


def test_native_calls_cost_the_team_nothing(setup):
    config, _, policy = setup
    alice = member(config, "alice")
    record = Record(1, "anthropic", "generate")
    record.cost, record.native = 3.0, True  # the client's own subscription paid
    policy.settle(alice, record)
    policy.admit(alice, "claude-sonnet-4", "native", legs(config, "native"))
    assert policy.spent("user", "alice") == {"today": 0.0, "month": 0.0}


def test_the_monthly_budget_holds_across_days(setup):
    config, clock, policy = setup
    alice = member(config, "alice")
    for _ in range(4):
        policy.admit(alice, "fast", "fast", legs(config))
        spend(policy, alice, 0.5)  # each day's budget reached, 0.5 a day
        clock.now += 86400
    err = refused(lambda: policy.admit(alice, "fast", "fast", legs(config)))
    assert "per month (users.alice.usd_per_month)" in err.message
    assert "2027-01-01T00:00:00Z" in err.message


def test_a_group_budget_is_the_members_total(setup):
    config, _, policy = setup
    alice, bob = member(config, "alice"), member(config, "bob")
    assert bob.group == "dev" and [s.path for s in bob.scopes] == ["users.bob", "groups.dev"]
    spend(policy, alice, 0.4)
    spend(policy, bob, 0.7)  # the group: 1.1 of 1.0
    err = refused(lambda: policy.admit(bob, "fast", "fast", legs(config)))
    assert "group dev has spent $1.1000 of the budget of $1.00 per day (groups.dev" in err.message
    assert policy.spent("group", "dev")["today"] == pytest.approx(1.1)


def test_unlisted_users_take_the_star_entry_each_with_their_own_counter(setup):
    config, _, policy = setup
    eve, frank = member(config, "eve"), member(config, "frank")
    spend(policy, eve, 0.2)
    err = refused(lambda: policy.admit(eve, "fast", "fast", legs(config)))
    assert "(users.*.usd_per_day)" in err.message
    policy.admit(frank, "fast", "fast", legs(config))


def test_requests_per_minute_then_the_next_minute(setup):
    config, clock, policy = setup
    dana = member(config, "dana")
    for _ in range(3):
        policy.admit(dana, "fast", "fast", legs(config))
    err = refused(lambda: policy.admit(dana, "fast", "fast", legs(config)))
    assert err.status == 429
    assert "made 3 requests this minute, the limit is 3 (users.dana.requests_per_minute)" in (
        err.message)
    assert dict(err.reply_headers)["retry-after"] == "30"  # type: ignore[attr-defined]
    assert "x-should-retry" not in dict(err.reply_headers)  # type: ignore[attr-defined]
    clock.now += 30
    policy.admit(dana, "fast", "fast", legs(config))


def test_tokens_per_minute_count_what_was_recorded(setup):
    config, clock, policy = setup
    dana = member(config, "dana")
    policy.admit(dana, "fast", "fast", legs(config))
    spend(policy, dana, 0.0, tokens=1200)
    err = refused(lambda: policy.admit(dana, "fast", "fast", legs(config)))
    assert "used 1200 tokens this minute, the limit is 1000" in err.message
    clock.now += 60
    policy.admit(dana, "fast", "fast", legs(config))


def test_no_user_no_policy_and_a_user_without_entry_has_no_limits():
    config = parse_config("users: {alice: {usd_per_day: 1}}")
    assert member(config, None) is None
    assert member(config, "zed") == Member("zed")


def test_memory_store_add_is_incrbyfloat_with_expiry():
    clock = Clock(100.0)
    store = MemoryStore(clock=clock)
    assert store.add("k", 0.25, ttl=10) == 0.25
    assert store.add("k", 0.5, ttl=999) == 0.75  # the ttl of a new key only
    clock.now += 10
    assert store.get("k") is None
    assert store.add("k", 2) == 2.0


@pytest.mark.parametrize(("text", "line"), [
    ("users: {alice: {group: ops}}",
     "config.yaml: users.alice.group: group 'ops' is not under groups:"),
    ("users: {alice: {usd_per_dai: 1}}",
     "config.yaml: users.alice: unknown key 'usd_per_dai' (did you mean 'usd_per_day'?)"),
    ("groups: {dev: {requests_per_minute: -1}}",
     "config.yaml: groups.dev.requests_per_minute: Input should be greater than or equal to 0"),
    ("groups: {'a b': {}}", "config.yaml: groups.a b: invalid name (letters, digits, _ . -)"),
])  # fmt: skip
def test_config_errors_are_one_line_naming_the_key(text, line):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.lines == [line]
