"""Each strategy's order: what it puts first, how picks spread over many
requests, stickiness and exploration; and the property every one keeps."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omniroute_mitm.engine.route.state import MemoryStore
from omniroute_mitm.engine.route.strategies import STRATEGIES, Candidate, Context, Memory, order
from shared_sync import ThroughRedis

NAMES = ["a/1", "b/2", "c/3", "d/4"]


def cands(**fields: list) -> list[Candidate]:
    return [
        Candidate(name, **{k: v[i] for k, v in fields.items()}) for i, name in enumerate(NAMES)
    ]


def ctx(seed: int = 1, tokens: int | None = None, memory: Memory | None = None) -> Context:
    return Context("combo", random.Random(seed), memory or MemoryStore(), tokens)


@pytest.fixture(params=["memory", "redis"])
def memory(request) -> Iterator[Memory]:
    """What strategies remember: in memory, or on a real Redis server."""
    if request.param == "memory":
        yield MemoryStore()
        return
    through = ThroughRedis(request.getfixturevalue("redis_url"))
    yield through
    through.close()


def firsts(name: str, candidates: list[Candidate], n: int = 4000) -> Counter[str]:
    c = ctx()
    return Counter(candidates[order(name, candidates, c)[0]].name for _ in range(n))


def test_priority_and_fill_first_keep_the_config_order():
    assert order("priority", cands(), ctx()) == [0, 1, 2, 3]
    assert order("fill-first", cands(), ctx()) == [0, 1, 2, 3]


def test_weighted_picks_in_proportion_to_the_weights():
    counts = firsts("weighted", cands(weight=[1.0, 2.0, 3.0, 4.0]))
    for name, weight in zip(NAMES, [1, 2, 3, 4], strict=True):
        assert counts[name] / 4000 == pytest.approx(weight / 10, abs=0.03)


def test_round_robin_rotates_exactly(memory):
    c = ctx(memory=memory)
    assert [order("round-robin", cands(), c)[0] for _ in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert order("round-robin", cands(), c) == [0, 1, 2, 3]  # the rest keeps the ring order


def test_random_spreads_evenly():
    counts = firsts("random", cands())
    assert all(counts[n] / 4000 == pytest.approx(0.25, abs=0.03) for n in NAMES)


def test_strict_random_deals_each_target_once_per_deck(memory):
    c = ctx(memory=memory)
    for _ in range(5):
        deck = {order("strict-random", cands(), c)[0] for _ in range(4)}
        assert deck == {0, 1, 2, 3}


def test_least_used_prefers_fewer_in_flight_then_fewer_uses():
    candidates = cands(in_flight=[2, 0, 0, 1], uses=[1, 9, 3, 0])
    assert order("least-used", candidates, ctx()) == [2, 1, 3, 0]


def test_p2c_never_puts_the_busier_of_two_first():
    candidates = cands(in_flight=[0, 50, 50, 50])
    counts = firsts("p2c", candidates)
    # a/1 wins every pair it is drawn into: 3 pairs of 6 -> about half of the picks
    assert counts["a/1"] / 4000 == pytest.approx(0.5, abs=0.04)
    assert counts["a/1"] > max(counts[n] for n in NAMES[1:]) * 2


def test_cost_orders_cheapest_first_unknown_last():
    assert order("cost", cands(cost=[3.0, None, 0.5, 1.0]), ctx()) == [2, 3, 0, 1]


def test_latency_prefers_the_fastest_and_explores_the_others():
    candidates = cands(ttft_ms=[300.0, 80.0, 900.0, 120.0])
    counts = firsts("latency", candidates)
    assert counts["b/2"] / 4000 == pytest.approx(0.9, abs=0.03)
    assert all(counts[n] > 0 for n in ("a/1", "c/3", "d/4"))  # a recovered target gets measured
    unmeasured = cands(ttft_ms=[300.0, 80.0, None, 120.0])
    assert firsts("latency", unmeasured).most_common(1)[0][0] == "c/3"


def test_lkgp_puts_the_last_known_good_first():
    assert order("lkgp", cands(last_ok=[10.0, 30.0, 0.0, 20.0]), ctx())[:2] == [1, 3]


def test_context_fit_skips_windows_too_small_unless_none_fits():
    candidates = cands(window=[8000, 200000, None, 32000])
    assert order("context-fit", candidates, ctx(tokens=50000)) == [1, 2]
    assert order("context-fit", cands(window=[10, 10, 10, 10]), ctx(tokens=50)) == [0, 1, 2, 3]


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(STRATEGIES)),
    size=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    loads=st.lists(st.integers(0, 5), min_size=6, max_size=6),
)
def test_no_strategy_repeats_or_drops_a_target(name, size, seed, loads):
    candidates = [
        Candidate(f"p/{i}", weight=1 + loads[i], cost=float(loads[i]), in_flight=loads[i],
                  uses=loads[i] * 2, ttft_ms=float(loads[i] * 10) or None, last_ok=loads[i])
        for i in range(size)
    ]
    c = ctx(seed)
    for _ in range(3):  # state carried between picks (decks, counters) too
        picked = order(name, candidates, c)
        assert len(picked) == len(set(picked)) == size
        assert sorted(picked) == list(range(size))
