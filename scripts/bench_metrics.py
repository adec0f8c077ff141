#!/usr/bin/env python3
"""What the metrics cost: CPU per request counted (``Metrics.observe``, once
per closed record, on the engine's event loop) and per scrape. A benchmark,
not a test.

    .venv/bin/python scripts/bench_metrics.py            # ~10 s
    .venv/bin/python scripts/bench_metrics.py --quick    # smoke run

CPU time (``time.process_time``), the median of 7 rounds after a warm-up.
Compare the first line with the engine's "CPU ms per stream" of
scripts/bench/run.py (~3 ms on a 2-core machine).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.core.prices import Tokens
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.record.metrics import Metrics
from omniroute_mitm.engine.record.router_metrics import RouterCollector
from omniroute_mitm.engine.route.router import Router

CONFIG = parse_config("""
providers:
  one: {format: openai-chat, base_url: "http://127.0.0.1:9/v1", keys: [k1, k2, k3]}
  two: {format: anthropic, base_url: "http://127.0.0.1:9/v1", keys: [k4, k5]}
combos:
  pair: {targets: [one/m1, two/m2, one/m3, two/m4]}
routes:
  - {match: {model: "pair"}, to: pair}
""", env={})  # fmt: skip


def record(**kw: object) -> Record:
    done = Record(1, "anthropic", "generate", model="pair", target="pair", provider="one",
                  upstream_model="m1", status=200, stream=True, attempts=["one/m1"],
                  tokens=Tokens(input=900, output=300, cache_read=5000, cache_write=200),
                  first_byte_ms=420.0, duration_ms=2500.0, cost=0.0123)  # fmt: skip
    for name, value in kw.items():
        setattr(done, name, value)
    return done


def cpu_us(fn: Callable[[], object], n: int) -> float:
    fn()
    rounds = []
    for _ in range(7):
        start = time.process_time()
        for _ in range(n):
            fn()
        rounds.append((time.process_time() - start) / n * 1e6)
    return statistics.median(rounds)


def main(argv: list[str]) -> int:
    n = 200 if "--quick" in argv else 20000
    metrics = Metrics()
    metrics.watch(RouterCollector(lambda: CONFIG, Router, lambda: {}))
    plain = record()
    fell = record(attempts=["one/m1", "two/m2"], provider="two", upstream_model="m2",
                  failures=["one/m1: 429"], failure_kinds=["rate_limited"])  # fmt: skip
    streamed = cpu_us(lambda: metrics.observe(plain, CONFIG), n)
    after_fallback = cpu_us(lambda: metrics.observe(fell, CONFIG), n)
    body, _ = metrics.render()
    scrape = cpu_us(metrics.render, max(3, n // 60))
    print(f"observe, a streamed answer:    {streamed:6.1f} us CPU")
    print(f"observe, after a fallback:     {after_fallback:6.1f} us CPU")
    print(f"scrape ({len(body)} bytes, 10 keys): {scrape:6.0f} us CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
