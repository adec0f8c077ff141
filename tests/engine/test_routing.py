"""The router's decisions and what it remembers, a fake clock; on the in-memory
store and on a real Redis server (the state then makes a round trip each time)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from textwrap import dedent

import pytest
from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.route.failures import Failure
from omniroute_mitm.engine.route.router import Router, RouteRequest
from shared_sync import SyncedRouter

CONFIG = parse_config(
    dedent(
        """
        providers:
          a: {format: openai-chat, base_url: "http://a/v1", keys: [ka1, ka2]}
          b: {format: anthropic, base_url: "http://b/v1", keys: [kb1]}
          c: {format: gemini, base_url: "http://c/v1beta", keys: [kc1]}
        combos:
          smart: {targets: [a/m1, b/m2, c/m3]}
        routes:
          - match: {model: "claude-*"}
            to: smart
        resilience: {breaker_failures: 3, breaker_reset: 30}
        """
    ),
    env={},
)
REQ = RouteRequest("anthropic", "claude-x", "api.anthropic.com")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def router(request) -> Iterator[Callable[[], tuple[Router, Clock]]]:
    """A router on the in-memory store, or on a real Redis server (each
    decision reads the state back from the server: see shared_sync)."""
    made: list[SyncedRouter] = []

    def make() -> tuple[Router, Clock]:
        clock = Clock()
        if request.param == "memory":
            return Router(clock=clock, rng=random.Random(7)), clock
        made.append(SyncedRouter(request.getfixturevalue("redis_url"), clock, random.Random(7)))
        return made[-1], clock

    yield make
    for r in made:
        r.close()


def labels(r: Router, req: RouteRequest = REQ) -> list[str]:
    return [a.label for a in r.decide(CONFIG, req).attempts]


def fail(r: Router, label: str, failure: Failure) -> None:
    decision = r.decide(CONFIG, REQ)
    attempt = next(a for a in decision.attempts if a.label == label)
    r.started(attempt)
    r.failed(CONFIG, decision, attempt, failure)


def test_priority_order_is_the_config_order_with_every_key(router):
    r, _ = router()
    assert labels(r) == ["a/m1", "a/m1#2", "b/m2", "c/m3"]


def test_a_rate_limited_key_goes_to_the_end_until_its_retry_after(router):
    r, clock = router()
    fail(r, "a/m1", Failure("rate_limited", 429, retry_after=10))
    assert labels(r) == ["a/m1#2", "b/m2", "c/m3", "a/m1"]
    clock.now += 10.5
    assert labels(r) == ["a/m1", "a/m1#2", "b/m2", "c/m3"]


def test_rate_limit_without_retry_after_backs_off_exponentially(router):
    r, clock = router()
    fail(r, "b/m2", Failure("rate_limited", 429))
    clock.now += 2.1  # first cooldown: 2 s
    assert labels(r)[2] == "b/m2"
    fail(r, "b/m2", Failure("rate_limited", 429))
    clock.now += 2.1  # second: 4 s
    assert labels(r)[-1] == "b/m2"
    clock.now += 2.0
    assert labels(r)[2] == "b/m2"


def test_auth_cools_the_key_not_the_other_key(router):
    r, _ = router()
    fail(r, "a/m1", Failure("auth", 401))
    assert labels(r) == ["a/m1#2", "b/m2", "c/m3", "a/m1"]


def test_model_lockout_covers_every_key_of_that_target(router):
    r, _ = router()
    fail(r, "a/m1", Failure("model", 404))
    assert labels(r) == ["b/m2", "c/m3", "a/m1", "a/m1#2"]


def test_breaker_opens_after_n_transient_failures_then_half_opens_for_one_probe(router):
    r, clock = router()
    for _ in range(3):
        fail(r, "c/m3", Failure("transient", 502))
        clock.now += 0.1
    decision = r.decide(CONFIG, REQ)
    assert "c/m3" not in [a.label for a in decision.attempts]
    assert decision.skipped == ["c/m3: breaker open"]
    clock.now += 31  # half-open: one request may probe
    assert "c/m3" in labels(r)
    assert "c/m3" not in labels(r)  # the probe is taken


def test_a_success_closes_the_breaker(router):
    r, clock = router()
    for _ in range(3):
        fail(r, "c/m3", Failure("transient", 502))
    clock.now += 31
    decision = r.decide(CONFIG, REQ)
    attempt = next(a for a in decision.attempts if a.label == "c/m3")
    r.started(attempt)
    r.succeeded(decision, attempt, 12.0)
    assert labels(r) == ["a/m1", "a/m1#2", "b/m2", "c/m3"]


def test_the_request_s_own_fault_changes_nothing(router):
    r, _ = router()
    fail(r, "a/m1", Failure("request", 400))
    fail(r, "a/m1", Failure("context", 400))
    assert labels(r) == ["a/m1", "a/m1#2", "b/m2", "c/m3"]


def test_max_attempts_caps_the_list(router):
    capped = CONFIG.model_copy(
        update={"resilience": CONFIG.resilience.model_copy(update={"max_attempts": 2})}
    )
    r, _ = router()
    assert len(r.decide(capped, REQ).attempts) == 2


RR = parse_config(
    dedent(
        """
        providers:
          a: {format: openai-chat, base_url: "http://a/v1", keys: [ka1]}
          b: {format: anthropic, base_url: "http://b/v1", keys: [kb1]}
          c: {format: gemini, base_url: "http://c/v1beta", keys: [kc1]}
        combos:
          rr: {strategy: round-robin, targets: [a/m1, b/m2, c/m3]}
          plain: {strategy: round-robin, affinity: none, targets: [a/m1, b/m2, c/m3]}
        """
    ),
    env={},
)


def answer(r: Router, combo: str, conversation: str) -> str:
    """Route one turn; the first attempt answers."""
    decision = r.decide(RR, RouteRequest("anthropic", combo, None, conversation))
    first = decision.attempts[0]
    r.started(first)
    r.succeeded(decision, first, 10.0)
    return first.label


def test_twenty_turns_of_one_conversation_stay_on_one_target(router):
    r, _ = router()
    answer(r, "rr", "other")  # the ring has moved on before this conversation starts
    assert len({answer(r, "rr", "s:conversation-1") for _ in range(20)}) == 1


def test_twenty_conversations_spread_over_the_targets(router):
    r, _ = router()
    counts = Counter(answer(r, "rr", f"s:conversation-{i}") for i in range(20))
    assert sorted(counts.values()) == [6, 7, 7]


def test_a_pinned_target_that_cools_down_lets_the_conversation_move(router):
    r, _ = router()
    pinned = answer(r, "rr", "s:c")
    decision = r.decide(RR, RouteRequest("anthropic", "rr", None, "s:c"))
    attempt = decision.attempts[0]
    r.started(attempt)
    r.failed(RR, decision, attempt, Failure("rate_limited", 429, retry_after=60))
    moved = answer(r, "rr", "s:c")
    assert moved != pinned
    assert {answer(r, "rr", "s:c") for _ in range(5)} == {moved}  # and stays there


def test_affinity_none_rotates_every_turn(router):
    r, _ = router()
    assert len({answer(r, "plain", "s:c") for _ in range(3)}) == 3


def test_an_unreachable_provider_cools_all_its_keys_and_models(router):
    r, clock = router()
    fail(r, "a/m1", Failure("transient", 502, provider_wide=True))
    assert labels(r) == ["b/m2", "c/m3", "a/m1", "a/m1#2"]
    clock.now += 1.1  # the first backoff is 1 s
    assert labels(r) == ["a/m1", "a/m1#2", "b/m2", "c/m3"]
