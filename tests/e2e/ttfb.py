"""Time to first byte: the fake provider directly vs through mitmdump + engine.

    .venv/bin/python tests/e2e/ttfb.py [--runs 20] [--events 200]

Each stream is a POST with ``stream: true`` on a kept-alive connection; TTFB is
the time from sending the request to the first body bytes (the first SSE
event). Medians of ``runs`` streams after 3 warm-ups.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

if __name__ == "__main__":
    HERE = Path(__file__).resolve().parent
    sys.path[:0] = [str(HERE), str(HERE.parent)]

from e2e_harness import (  # noqa: E402
    CLIENT_KEY,
    FORMATS,
    Mitmdump,
    client_ssl_context,
    e2e_config,
    make_confdir,
    provider_key,
    write_config,
)
from fakeprovider import FakeProvider, Reply  # noqa: E402

BODY = {"model": "to-anthropic", "max_tokens": 100, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Timing:
    ttfb: float  # seconds to the first body bytes
    total: float  # seconds to the end of the stream


def one_stream(client: httpx.Client, url: str, body: dict, headers: dict) -> Timing:
    start = time.perf_counter()
    with client.stream("POST", url, json=body, headers=headers) as resp:
        resp.raise_for_status()
        chunks = resp.iter_raw()
        next(chunks)
        ttfb = time.perf_counter() - start
        for _ in chunks:
            pass
    return Timing(ttfb, time.perf_counter() - start)


def measure(client: httpx.Client, url: str, body: dict, headers: dict,
            runs: int) -> list[Timing]:
    for _ in range(3):
        one_stream(client, url, body, headers)
    return [one_stream(client, url, body, headers) for _ in range(runs)]


def median_ms(timings: list[Timing], attr: str) -> float:
    return statistics.median(getattr(t, attr) for t in timings) * 1000


def compare(fp: FakeProvider, mitm: Mitmdump, runs: int = 20,
            events: int = 200) -> dict[str, list[Timing]]:
    """Direct, through the proxy in the same format, and translated (anthropic -> chat)."""
    fp.default = Reply.bench(events)
    headers = {"x-api-key": provider_key("anthropic"), "anthropic-version": "2023-06-01"}
    proxied = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
    out = {}
    with httpx.Client(timeout=30) as direct:
        out["direct"] = measure(direct, fp.url + "/v1/messages", BODY, headers, runs)
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir),
                      timeout=30) as client:
        url = "https://api.anthropic.com/v1/messages"
        out["proxy, same format"] = measure(client, url, BODY, proxied, runs)
        translated = dict(BODY, model="to-openai-chat")
        out["proxy, anthropic->openai-chat"] = measure(client, url, translated, proxied, runs)
    return out


def report(results: dict[str, list[Timing]]) -> str:
    base = median_ms(results["direct"], "ttfb")
    lines = []
    for name, timings in results.items():
        ttfb, total = median_ms(timings, "ttfb"), median_ms(timings, "total")
        added = "" if name == "direct" else f"  (+{ttfb - base:.1f} ms)"
        lines.append(f"{name:32s} TTFB {ttfb:6.1f} ms{added}   whole stream {total:6.1f} ms")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--events", type=int, default=200)
    args = p.parse_args()
    keys = [provider_key(f) for f in FORMATS]
    with FakeProvider(accept_keys=keys) as fp, tempfile.TemporaryDirectory() as tmp:
        confdir = make_confdir(Path(tmp) / "confdir")
        config = write_config(Path(tmp) / "config.yaml", e2e_config(fp.port))
        mitm = Mitmdump(config, confdir).start()
        try:
            print(report(compare(fp, mitm, args.runs, args.events)))
        finally:
            mitm.stop()


if __name__ == "__main__":
    main()
