"""Failover time: from a target's failing answer to the next target's request.

    .venv/bin/python scripts/bench_failover.py [--runs 100] [--in-process]

An engine in its own process (as the front starts it; ``--in-process``: on
a thread of this one) routes a streamed Anthropic call to a combo
``[primary, backup]`` on the fake provider (tests/fakeprovider, a thread of
this process). Each run the primary fails, the backup answers at once. Per
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
24 words) and is continued on the same target: an Anthropic one (prefill,
exact), and an OpenAI Chat one (by instruction; its events 2 ms apart, as a
model's tokens come, so that holding the continuation's opening back to
compare it with the text sent would show). Every figure is a stretch of one
timeline, from and to the fake provider's clock events (the drop, a
request's arrival) or a client reading the continuation's first text
(`` w12``: the first content, as the engine sends no preamble for a
continuation). Medians over the runs of:

- break to continued byte: the client reading the continuation's first text
  minus the fake provider dropping the connection;
- failover: the continuation's request reaching the fake provider minus the
  drop (the engine's time to see the break and send the continuation);
- next TTFB: the target's time to first byte as the client gets it, on the
  same terms: a fresh call through the engine whose answer is the
  continuation's, from its request reaching the fake provider (where the
  failover ends) to the client reading the same first text;
- bound: failover + next TTFB; the ratio is break to byte over it (above 1:
  a continuation's first text comes later than a fresh answer's would);
- provider alone: the continuation's own request sent to the fake provider
  directly, from its arrival there to the reader reading that text; break to
  byte over failover + it is a stricter bound, which leaves the engine no
  time for its own hop (reading the provider, writing to the client).

Until 2026-12-07 the bound's TTFB was a direct call's first byte of any
kind (the stream's preamble, not content), timed from the client's start
(whose request the failover had counted already), and the engine ran on a
thread of this process (now in its own, as the front starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tests"))  # the test suite's fake provider (a harness, not the product)

import httpx  # noqa: E402
from fakeprovider import FakeProvider, Reply, frames  # noqa: E402
from fakeprovider.record import Recorded  # noqa: E402
from omniroute_mitm.engine.core.config import parse_config  # noqa: E402
from omniroute_mitm.engine.core.headers import SECRET_HEADER  # noqa: E402
from omniroute_mitm.engine.serve.server import Engine  # noqa: E402

CONFIG = """
providers:
  primary: {format: anthropic, base_url: "URL/v1", keys: [pk-primary-0000]}
  backup: {format: anthropic, base_url: "URL/v1", keys: [pk-backup-0000]}
  chat: {format: openai-chat, base_url: "URL/v1", keys: [pk-chat-0000]}
combos:
  pair: {targets: [primary/first, backup/second]}
routes:
  - match: {model: pair}
    to: pair
  - match: {model: backup}
    to: backup/second
  - match: {model: chat}
    to: chat/third
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
    """The engine on a thread of this process (``--in-process``)."""

    def __init__(self, config: str) -> None:
        self.engine = Engine(parse_config(config, env={}), ping_interval=0)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(lambda: (self.engine.start(), ready.set()))
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        self.url, self.secret = self.engine.url or "", self.engine.secret

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.engine.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class EngineProcess:
    """The engine in its own process, as the front starts it (its secret on
    stdin, stopped with this process): the client's reads never wait for
    the engine's Python thread."""

    def __init__(self, config: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="bench-failover-")
        folder = Path(self.dir.name)
        (folder / "config.yaml").write_text(config, encoding="utf-8")
        self.secret = secrets.token_urlsafe(24)
        self.log = open(folder / "engine.log", "w+b")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omniroute_mitm.engine", "--config", str(folder / "config.yaml"),
             "--secret-file", "-", "--store", "none", "--data-dir", str(folder),
             "--parent", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdin is not None
        self.proc.stdin.write(self.secret.encode() + b"\n")
        self.proc.stdin.flush()  # (kept open: the engine stops when it closes)
        self.url = self._listening(folder / "engine.log")

    def _listening(self, log: Path) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(
                r"engine listening at (http://\S+)", log.read_text("utf-8", "replace")
            )
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the engine did not start: {log.read_text('utf-8', 'replace')[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
        self.dir.cleanup()


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
REST = WORDS[WORDS.index(" w12") :]  # what the continuation answers
BREAKS = {  # model -> (the target's format, seconds between its events, the row's name)
    "backup": ("anthropic", 0.0, "(same target, Anthropic prefill)"),
    "chat": ("openai-chat", 0.002, "(same target, OpenAI Chat, by instruction)"),
}
KEY_HEADERS = ("x-api-key", "authorization", "anthropic-version", "content-type")


def read_until(resp: httpx.Response, text: bytes) -> float | None:
    """Reads the whole body; when ``text`` was first read (monotonic)."""
    seen, at = b"", None
    for chunk in resp.iter_raw():
        seen += chunk
        if at is None and text in seen:
            at = time.monotonic()
    return at


def measure_break(
    fp: FakeProvider, client: httpx.Client, model: str, runs: int
) -> dict[str, float]:
    fmt, pace, _ = BREAKS[model]
    first = Reply(text=WORDS, drop_mid_stream=True)
    first.cut_at = next(i for i, f in enumerate(frames(fmt, first)) if CONTINUED in f)
    answer = Reply(text=WORDS, continues=True, delay_between=pace)
    to_byte, failover, via, alone = [], [], [], []
    for _ in range(runs):
        via.append(engine_ttfb(fp, client, model, Reply(text=REST, delay_between=pace)))
        fp.reset()
        fp.script([first, answer])
        with client.stream("POST", "/v1/messages", json={**BODY, "model": model}) as resp:
            at = read_until(resp, CONTINUED)
        calls = fp.model_calls()
        if len(calls) != 2 or at is None or calls[0].broke_at is None:
            raise RuntimeError(f"expected a continuation, saw {len(calls)} calls")
        to_byte.append(at - calls[0].broke_at)
        failover.append(calls[1].received_at - calls[0].broke_at)
        alone.append(provider_ttfb(fp, calls[1], answer))
    return {k: statistics.median(v) * 1000
            for k, v in (("to_byte", to_byte), ("failover", failover), ("via", via),
                         ("alone", alone))}  # fmt: skip


def engine_ttfb(fp: FakeProvider, client: httpx.Client, model: str, answer: Reply) -> float:
    """The target's time to first byte through the engine, counted as a
    continuation's is after its failover: from the request's arrival at the
    fake provider to the client reading the answer's first text (a fresh
    call, the same answer as the continuation's)."""
    fp.reset()
    fp.script([answer])
    with client.stream("POST", "/v1/messages", json={**BODY, "model": model}) as resp:
        at = read_until(resp, CONTINUED)
    if at is None:
        raise RuntimeError(f"no text through the engine ({resp.status_code})")
    return at - fp.model_calls()[0].received_at


def provider_ttfb(fp: FakeProvider, request: Recorded, answer: Reply) -> float:
    """The continuation's own request sent to the fake provider directly (on
    a new connection, as the continuation's is: a reused one may delay its
    acks, and the provider's small writes wait for them): from its arrival
    there to the reader reading the continuation's first text."""
    fp.reset()
    fp.script([answer])
    headers = {k: v for k, v in request.headers.items() if k in KEY_HEADERS}
    url = f"{fp.url}{request.path}"
    with (
        httpx.Client(timeout=10) as direct,
        direct.stream("POST", url, content=request.raw, headers=headers) as resp,
    ):
        at = read_until(resp, CONTINUED)
    if at is None:
        raise RuntimeError(f"no continued text from the provider ({resp.status_code})")
    return at - fp.model_calls()[0].received_at


@contextmanager
def engine(config: str, in_process: bool) -> Iterator[httpx.Client]:
    server = EngineThread(config) if in_process else EngineProcess(config)
    client = httpx.Client(
        base_url=server.url, timeout=10,
        # as the front passes a client's call: with the client's own (any) key
        headers={SECRET_HEADER: server.secret, "authorization": "Bearer sk-bench-client"},
    )  # fmt: skip
    try:
        yield client
    finally:
        client.close()
        server.stop()


def report_breaks(fp: FakeProvider, client: httpx.Client, runs: int) -> None:
    print(
        f"\n{'stream broken after content, continued':<44} {'break->byte':>11}"
        f" {'failover':>10} {'next TTFB':>11} {'bound':>9} {'ratio':>6}  {'provider alone':>14}"
    )
    for model, (_, _, name) in BREAKS.items():
        r = measure_break(fp, client, model, runs)
        bound = r["failover"] + r["via"]
        strict = r["to_byte"] / (r["failover"] + r["alone"])
        print(
            f"{name:<44} {r['to_byte']:>8.2f} ms {r['failover']:>7.2f} ms"
            f" {r['via']:>8.2f} ms {bound:>6.2f} ms {r['to_byte'] / bound:>6.2f}"
            f"  {r['alone']:>11.2f} ms ({strict:.2f} of failover + it)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="the engine on a thread of this process, not in its own",
    )
    args = parser.parse_args(argv)
    fp = FakeProvider().start()
    try:
        with engine(dedent(CONFIG).replace("URL", fp.url), args.in_process) as client:
            print(f"{'fault':<44} {'failover':>10} {'added to TTFB':>14} {'TTFB alone':>11}")
            for name, fault in FAULTS.items():
                r = measure(fp, client, fault, args.runs)
                print(
                    f"{name:<44} {r['failover_ms']:>8.2f} ms {r['added_ms']:>11.2f} ms"
                    f" {r['ttfb_alone_ms']:>8.2f} ms"
                )
            report_breaks(fp, client, args.runs)
        where = "on a thread of this process" if args.in_process else "in its own process"
        print(f"medians of {args.runs} runs each; the engine {where}, loopback, fake provider")
    finally:
        fp.stop()


if __name__ == "__main__":
    main()
