"""Two instances' routers on one Redis server, as two gateway instances run
them: each reads the state its decision needs (prefetch) and sends what it
learned in the background."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from textwrap import dedent

import pytest
from omniroute_mitm.engine.core.config import Config, parse_config
from omniroute_mitm.engine.core.errors import EngineError
from omniroute_mitm.engine.core.prices import Tokens
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.core.stateurl import parse_state_url
from omniroute_mitm.engine.route.failures import Failure
from omniroute_mitm.engine.route.policy import member
from omniroute_mitm.engine.route.router import Router, RouteRequest
from omniroute_mitm.engine.route.shared import SharedStore
from omniroute_mitm.engine.route.state import MemoryStore
from omniroute_mitm.engine.serve.status import status
from shared_sync import shared_url

pytestmark = pytest.mark.anyio

CONFIG = parse_config(
    dedent(
        """
        providers:
          a: {format: openai-chat, base_url: "http://a/v1", keys: [ka1, ka2]}
          b: {format: anthropic, base_url: "http://b/v1", keys: [kb1]}
          c: {format: gemini, base_url: "http://c/v1beta", keys: [kc1]}
        combos:
          smart: {targets: [a/m1, b/m2, c/m3]}
          rr: {strategy: round-robin, targets: [a/m1, b/m2, c/m3]}
          plain: {strategy: round-robin, affinity: none, targets: [b/m2, c/m3, a/m1]}
          lkgp: {strategy: lkgp, targets: [a/m1, b/m2, c/m3]}
          least: {strategy: least-used, affinity: none, targets: [b/m2, c/m3]}
        routes:
          - match: {model: "claude-*"}
            to: smart
        """
    ),
    env={},
)
REQ = RouteRequest("anthropic", "claude-x", "api.anthropic.com")


class Instance:
    """One gateway instance's router."""

    def __init__(self, url: str, probe_interval: float = 2.0) -> None:
        where = parse_state_url(url)
        assert where is not None
        self.store = SharedStore(where, probe_interval=probe_interval)
        self.store.start()
        self.router = Router(store=self.store, rng=random.Random(3))

    async def labels(self, req: RouteRequest = REQ, config: Config = CONFIG) -> list[str]:
        await self.router.prefetch(config, req)
        return [a.label for a in self.router.decide(config, req).attempts]

    async def answer(self, combo: str, conversation: str | None = None) -> str:
        """One turn: the first attempt answers."""
        req = RouteRequest("anthropic", combo, None, conversation)
        await self.router.prefetch(CONFIG, req)
        decision = self.router.decide(CONFIG, req)
        first = decision.attempts[0]
        self.router.started(first)
        self.router.succeeded(decision, first, 10.0)
        await self.store.flush()
        return first.label

    async def answer_with(self, combo: str, label: str) -> None:
        """One turn answered by ``label`` (the others before it did not answer)."""
        req = RouteRequest("anthropic", combo, None, None)
        await self.router.prefetch(CONFIG, req)
        decision = self.router.decide(CONFIG, req)
        attempt = next(a for a in decision.attempts if a.label == label)
        self.router.started(attempt)
        self.router.succeeded(decision, attempt, 10.0)
        await self.store.flush()

    async def fail(self, label: str, failure: Failure, req: RouteRequest = REQ) -> None:
        await self.router.prefetch(CONFIG, req)
        decision = self.router.decide(CONFIG, req)
        attempt = next(a for a in decision.attempts if a.label == label)
        self.router.started(attempt)
        self.router.failed(CONFIG, decision, attempt, failure)
        await self.store.flush()


@pytest.fixture
async def instances(redis_url) -> AsyncIterator[Callable[[], Instance]]:
    made: list[Instance] = []

    def make() -> Instance:
        made.append(Instance(shared_url(redis_url)))
        return made[-1]

    yield make
    for instance in made:
        assert instance.store.up
        await instance.store.close()


async def test_a_429_on_one_instance_sends_the_other_to_the_next_key(instances):
    a, b = instances(), instances()
    assert await b.labels() == ["a/m1", "a/m1#2", "b/m2", "c/m3"]
    await a.fail("a/m1", Failure("rate_limited", 429, retry_after=60))
    assert await b.labels() == ["a/m1#2", "b/m2", "c/m3", "a/m1"]


async def test_an_open_breaker_and_a_model_lockout_are_seen_everywhere(instances):
    a, b = instances(), instances()
    await a.fail("a/m1", Failure("model", 404))
    for _ in range(5):  # breaker_failures: 5 by default
        await a.fail("c/m3", Failure("transient", 502))
    assert await b.labels() == ["b/m2", "a/m1", "a/m1#2"]


async def test_a_conversation_keeps_its_target_across_instances(instances):
    a, b = instances(), instances()
    await a.answer("rr", "s:other")  # the ring has moved on
    pinned = await a.answer("rr", "s:conversation")
    turns = [await (b if i % 2 else a).answer("rr", "s:conversation") for i in range(8)]
    assert set(turns) == {pinned}


async def test_a_reloaded_config_reads_the_keys_of_its_own_plan(instances):
    a, b = instances(), instances()
    assert (await b.labels())[0] == "a/m1"  # planned with CONFIG
    moved = parse_config(
        dedent(
            """
            providers:
              a: {format: openai-chat, base_url: "http://a/v1", keys: [ka1, ka2]}
            routes:
              - match: {model: "claude-*"}
                to: a/m9
            """
        ),
        env={},
    )
    await a.router.prefetch(moved, REQ)
    decision = a.router.decide(moved, REQ)
    a.router.started(decision.attempts[0])
    failure = Failure("rate_limited", 429, retry_after=60)
    a.router.failed(moved, decision, decision.attempts[0], failure)
    await a.store.flush()
    assert await b.labels(REQ, moved) == ["a/m9#2", "a/m9"]


async def test_round_robin_turns_one_ring_for_all_instances(instances):
    a, b = instances(), instances()
    picks = [await inst.answer("plain") for inst in (a, b, a, b, b, a)]
    assert picks == ["b/m2", "c/m3", "a/m1", "b/m2", "c/m3", "a/m1"]


async def test_the_last_known_good_and_use_counts_are_shared(instances):
    a, b = instances(), instances()
    await a.answer_with("lkgp", "c/m3")
    assert (await b.labels(RouteRequest("anthropic", "lkgp")))[0] == "c/m3"
    await a.answer_with("least", "b/m2")
    await a.answer_with("least", "b/m2")
    assert await b.labels(RouteRequest("anthropic", "least")) == ["c/m3", "b/m2"]
    status = b.router.health.stat("c/m3")
    assert (status.success_rate, status.median_ttft_ms) == (1.0, 10.0)  # measured on a


async def test_a_quota_window_near_its_limit_on_one_is_avoided_by_the_other(instances):
    a, b = instances(), instances()
    reset = time.time() + 3600
    headers = [
        ("anthropic-ratelimit-unified-5h-utilization", "0.99"),
        ("anthropic-ratelimit-unified-5h-reset", str(int(reset))),
    ]
    await a.router.prefetch(CONFIG, REQ)
    decision = a.router.decide(CONFIG, REQ)
    first = decision.attempts[0]
    a.router.started(first)
    a.router.succeeded(decision, first, 10.0, headers)
    await a.store.flush()
    assert await b.labels() == ["a/m1#2", "b/m2", "c/m3", "a/m1"]


async def test_memory_instances_share_nothing():
    """What the shared store is for: two instances on memory each hit the key."""
    a, b = Router(store=MemoryStore()), Router(store=MemoryStore())
    decision = a.decide(CONFIG, REQ)
    a.failed(CONFIG, decision, decision.attempts[0], Failure("rate_limited", 429, retry_after=60))
    assert b.decide(CONFIG, REQ).attempts[0].label == "a/m1"


async def test_requests_go_on_through_an_outage_and_sharing_resumes(own_redis):
    url = shared_url(own_redis.url)
    a, b = Instance(url, probe_interval=0.05), Instance(url, probe_interval=0.05)
    assert await b.labels() == ["a/m1", "a/m1#2", "b/m2", "c/m3"]
    own_redis.stop()
    # No server: each instance decides on its own memory, at once.
    await a.fail("a/m1", Failure("rate_limited", 429, retry_after=600))
    assert await a.labels() == ["a/m1#2", "b/m2", "c/m3", "a/m1"]
    assert await b.labels() == ["a/m1", "a/m1#2", "b/m2", "c/m3"]
    assert not a.store.up and not b.store.up
    assert status(CONFIG, a.router)["state"] == {"shared": own_redis.url, "reachable": False}

    own_redis.start()  # empty: it kept nothing
    deadline = time.monotonic() + 30
    while not (a.store.up and b.store.up):
        assert time.monotonic() < deadline, "the instances never went back to the server"
        await asyncio.sleep(0.02)
    assert status(CONFIG, a.router)["state"] == {"shared": own_redis.url, "reachable": True}
    assert status(CONFIG, Router())["state"] == {"shared": None}
    # What a learned alone is shared now, and new lessons are shared again.
    assert await b.labels() == ["a/m1#2", "b/m2", "c/m3", "a/m1"]
    await b.fail("b/m2", Failure("auth", 401))
    assert await a.labels() == ["a/m1#2", "c/m3", "a/m1", "b/m2"]
    for instance in (a, b):
        await instance.store.close()


async def test_a_budget_is_held_across_instances(instances):
    """Spend settled on one instance counts on the other's next admission."""
    config = parse_config(
        dedent(
            """
            providers:
              a: {format: openai-chat, base_url: "http://a/v1", keys: [ka1]}
            users:
              alice: {usd_per_day: 0.5}
            """
        ),
        env={},
    )
    alice = member(config, "alice")
    assert alice is not None
    req = RouteRequest("openai-chat", "a/m1")
    admitted = 0
    for instance in [a := instances(), b := instances()] * 3:
        policy = instance.router.policy
        await instance.router.prefetch(config, req, policy.keys(alice))
        attempts = instance.router.decide(config, req).attempts
        try:
            policy.admit(alice, "a/m1", "a/m1", attempts)
        except EngineError as exc:
            assert exc.status == 429 and "user alice has spent $0.6000" in exc.message
            break
        admitted += 1
        record = Record(1, "openai-chat", "generate")
        record.cost, record.tokens = 0.2, Tokens(input=10)
        policy.settle(alice, record)  # 0.2, 0.4, 0.6: the third crosses the budget
        await instance.store.flush()
    assert admitted == 3
    assert (a.router.policy.spent("user", "alice")["today"],
            b.router.policy.spent("user", "alice")["today"]) == (pytest.approx(0.6),) * 2
