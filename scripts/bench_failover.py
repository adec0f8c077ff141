"""Failover time: from a target's failing answer to the next target's request.

    .venv/bin/python scripts/bench_failover.py [--runs 100]

An engine (in this process, on loopback) routes a streamed Anthropic call to
a combo ``[primary, backup]`` on the fake provider (tests/fakeprovider, its
own thread). Each run the primary fails, the backup answers at once. Per
fault, medians over the runs of:

- failover: the fake provider receiving the backup's request minus it
  receiving the primary's (whose failure is answered at once): the engine's
  own time to read the failure, classify it, report it, pick the next
  attempt and send it, without either target's time to first token;
- added to the first byte: the client's time to first byte with the failover
  minus without it (the backup alone), on the same engine.

The router is told to forget (tiny cooldowns) so that every run fails over:
the point is the time of one failover, not the router's memory.

Then a stream that breaks after content (the connection dropped after 11 of
24 words) and is continued on the same target. Medians over the runs of:

- break to continued byte: the client receiving the continuation's first
  byte minus the fake provider dropping the connection;
- failover: the continuation's request reaching the fake provider minus the
  drop (the engine's time to see the break and send the continuation);
- provider TTFB: the fake provider's time to first byte, asked directly;
- bound: failover + provider TTFB (what the ratio compares with); the
  break-to-byte time also holds the engine's handling of the continuation's
  first events and the hop to the client, which the bound does not count;
- TTFB through the engine: a fresh call's time to first byte through the
  engine (the next target alone), for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tests"))  # the test suite's fake provider (a harness, not the product)

import httpx  # noqa: E402
from fakeprovider import FakeProvider, Reply, frames  # noqa: E402
from omniroute_mitm.engine.core.config import parse_config  # noqa: E402
from omniroute_mitm.engine.core.headers import SECRET_HEADER  # noqa: E402
from omniroute_mitm.engine.serve.server import Engine  # noqa: E402

CONFIG = """
providers:
  primary: {format: anthropic, base_url: "URL/v1", keys: [pk-primary-0000]}
  backup: {format: anthropic, base_url: "URL/v1", keys: [pk-backup-0000]}
combos:
  pair: {targets: [primary/first, backup/second]}
routes:
  - match: {model: pair}
    to: pair
  - match: {model: backup}
    to: backup/second
resilience: {rate_limit_cooldown: 0.001, rate_limit_max: 0.001, backoff: 0.001,
             backoff_max: 0.001, breaker_failures: 1000000}
"""
FAULTS = {
    "503": Reply(status=503),
    "429 (Retry-After: 0)": Reply(status=429, headers={"retry-after": "0"}),
    "200, then an error event before content": Reply(text="x", fault="error_before_content"),
}
BODY = {"max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


class EngineThread:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(lambda: (engine.start(), ready.set()))
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.engine.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def first_byte(client: httpx.Client, model: str) -> float:
    start = time.perf_counter()
    took = None
    with client.stream("POST", "/v1/messages", json={**BODY, "model": model}) as resp:
        for _ in resp.iter_raw():
            if took is None:
                took = time.perf_counter() - start
    if took is None:
        raise RuntimeError(f"no body ({resp.status_code})")
    if resp.status_code != 200:
        raise RuntimeError(f"status {resp.status_code}")
    return took


def measure(fp: FakeProvider, client: httpx.Client, fault: Reply, runs: int) -> dict[str, float]:
    gaps, with_fault, alone = [], [], []
    for _ in range(runs):
        fp.reset()
        fp.script([Reply(text="warm")])
        first_byte(client, "backup")  # a warm connection, as in steady use
        fp.reset()
        fp.script([Reply(text="ok")])
        alone.append(first_byte(client, "backup"))
        fp.reset()
        fp.script([fault, Reply(text="ok")])
        with_fault.append(first_byte(client, "pair"))
        calls = fp.model_calls()
        if [c.api_key for c in calls] != ["pk-primary-0000", "pk-backup-0000"]:
            raise RuntimeError(f"expected a failover, saw {[c.api_key for c in calls]}")
        gaps.append(calls[1].received_at - calls[0].received_at)
    return {
        "failover_ms": statistics.median(gaps) * 1000,
        "added_ms": (statistics.median(with_fault) - statistics.median(alone)) * 1000,
        "ttfb_alone_ms": statistics.median(alone) * 1000,
    }


WORDS = " ".join(f"w{i}" for i in range(1, 25))
CONTINUED = b" w12"  # the continuation's first text (w1..w11 went out before the break)


def provider_ttfb(http: httpx.Client, fp: FakeProvider) -> float:
    fp.script([Reply(text=WORDS)])
    start = time.monotonic()
    with http.stream("POST", f"{fp.url}/v1/messages", json={**BODY, "model": "m"},
                     headers={"x-api-key": "pk-backup-0000"}) as resp:  # fmt: skip
        for _ in resp.iter_raw():
            return time.monotonic() - start
    raise RuntimeError("no body")


def measure_break(fp: FakeProvider, client: httpx.Client, runs: int) -> dict[str, float]:
    first = Reply(text=WORDS, drop_mid_stream=True)
    first.cut_at = next(i for i, f in enumerate(frames("anthropic", first)) if CONTINUED in f)
    to_byte, failover, ttfb, via = [], [], [], []
    with httpx.Client(timeout=10) as direct:
        for _ in range(runs):
            fp.reset()
            ttfb.append(provider_ttfb(direct, fp))
            fp.reset()
            fp.script([Reply(text=WORDS)])
            via.append(first_byte(client, "backup"))
            fp.reset()
            fp.script([first, Reply(text=WORDS, continues=True)])
            seen, at = b"", None
            with client.stream("POST", "/v1/messages", json={**BODY, "model": "backup"}) as resp:
                for chunk in resp.iter_raw():
                    seen += chunk
                    if at is None and CONTINUED in seen:
                        at = time.monotonic()
            calls = fp.model_calls()
            if len(calls) != 2 or at is None or calls[0].broke_at is None:
                raise RuntimeError(f"expected a continuation, saw {len(calls)} calls")
            to_byte.append(at - calls[0].broke_at)
            failover.append(calls[1].received_at - calls[0].broke_at)
    med = {k: statistics.median(v) * 1000
           for k, v in (("to_byte", to_byte), ("failover", failover), ("ttfb", ttfb),
                        ("via", via))}  # fmt: skip
    return med


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args(argv)
    fp = FakeProvider().start()
    config = parse_config(dedent(CONFIG).replace("URL", fp.url), env={})
    server = EngineThread(Engine(config, ping_interval=0))
    client = httpx.Client(
        base_url=server.engine.url or "", timeout=10,
        # as the front passes a client's call: with the client's own (any) key
        headers={SECRET_HEADER: server.engine.secret, "authorization": "Bearer sk-bench-client"},
    )
    try:
        print(f"{'fault':<42} {'failover':>10} {'added to TTFB':>14} {'TTFB alone':>11}")
        for name, fault in FAULTS.items():
            r = measure(fp, client, fault, args.runs)
            print(
                f"{name:<42} {r['failover_ms']:>8.2f} ms {r['added_ms']:>11.2f} ms"
                f" {r['ttfb_alone_ms']:>8.2f} ms"
            )
        r = measure_break(fp, client, args.runs)
        bound = r["failover"] + r["ttfb"]
        print(f"\n{'stream broken after content, continued':<42} {'break->byte':>11}"
              f" {'failover':>10} {'provider TTFB':>14} {'bound':>9} {'TTFB via engine':>16}")
        print(f"{'(same target, Anthropic prefill)':<42} {r['to_byte']:>8.2f} ms"
              f" {r['failover']:>7.2f} ms {r['ttfb']:>11.2f} ms {bound:>6.2f} ms"
              f" {r['via']:>13.2f} ms  ({r['to_byte'] / bound:.2f} of the bound)")
        print(f"medians of {args.runs} runs each; engine in-process, loopback, fake provider")
    finally:
        client.close()
        server.stop()
        fp.stop()


if __name__ == "__main__":
    main()
