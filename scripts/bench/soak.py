"""The memory soak: mitmdump with omniroute under 64 streams for minutes,
mixing long requests (Claude Code-shaped bodies, short answers) and long
streams (short prompts, thousands of events), with the resident memory of
mitmdump and of its engine printed over time.

    .venv/bin/python scripts/bench/soak.py                 # 10 minutes, 64 streams
    .venv/bin/python scripts/bench/soak.py --minutes 3 --streams 32

RSS should be flat after the first minute (within 10% of its value then):
the last line says whether it was, for each process.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import yaml
from load import Result, Target, run_load
from procs import Proc
from run import as_issued, long_request
from setups import BIN, CLIENT_KEY, CLIENTS, HERE, LAST_TURN, ROOT, Env, make_confdir, mitmdump

WARM = 60.0
"""Seconds after which RSS should stay flat (the issue's "after the first minute")."""
FLAT = 0.10


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="how long (10)")
    p.add_argument("--streams", type=int, default=64, help="concurrent streams (64)")
    p.add_argument("--long-kb", type=int, default=500, help="size of the long requests (500)")
    p.add_argument("--events", type=int, default=2000, help="events of a long stream (2000)")
    p.add_argument("--pacing", type=float, default=0.001,
                   help="seconds between a long stream's events (0.001)")
    p.add_argument("--every", type=float, default=15.0, help="seconds between samples (15)")
    return p.parse_args(argv)


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` now (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def provider(events: int, pacing: float) -> Proc:
    return Proc(f"provider ({events} events)",
                [str(BIN / "python"), str(HERE / "provider.py"), "--events", str(events),
                 "--pacing", str(pacing)], r"listening at (http://\S+)", cwd=ROOT).start()


def config(tmp: Path, short_url: str, long_url: str) -> Path:
    """Long requests go to an Anthropic-format provider (same format: the
    signatures are filtered), long streams are translated from a chat one."""
    config = {
        "providers": {
            "soak-anthropic": {"format": "anthropic", "base_url": short_url + "/v1",
                               "keys": ["pk-anthropic"]},
            "soak-chat": {"format": "openai-chat", "base_url": short_url + "/v1",
                          "keys": ["pk-chat"]},
            "soak-stream": {"format": "openai-chat", "base_url": long_url + "/v1",
                            "keys": ["pk-stream"]},
        },
        "routes": [
            {"match": {"model": "soak-long-same"}, "to": "soak-anthropic/m"},
            {"match": {"model": "soak-long-cross"}, "to": "soak-chat/m"},
            {"match": {"model": "soak-stream"}, "to": "soak-stream/m"},
        ],
    }  # fmt: skip
    path = tmp / "omniroute.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def soak(args: argparse.Namespace, targets: list[tuple[Target, int]], pids: dict[str, int],
               ) -> tuple[list[tuple[float, dict[str, float]]], list[Result]]:
    seconds = args.minutes * 60
    loads = [asyncio.ensure_future(run_load(t, n, 1 << 30, seconds, timeout=300.0))
             for t, n in targets]
    samples: list[tuple[float, dict[str, float]]] = []
    start = time.monotonic()
    print("| s | " + " | ".join(f"{name} RSS MB" for name in pids) + " |")
    print("|---:|" + "---:|" * len(pids))
    while not all(task.done() for task in loads):
        await asyncio.wait(loads, timeout=args.every)
        elapsed = time.monotonic() - start
        now = {name: rss_mb(pid) for name, pid in pids.items()}
        samples.append((elapsed, now))
        print(f"| {elapsed:.0f} | " + " | ".join(f"{v:.0f}" for v in now.values()) + " |",
              flush=True)
    return samples, [task.result() for task in loads]


def verdict(samples: list[tuple[float, dict[str, float]]]) -> list[str]:
    """Per process: RSS at the first sample past :data:`WARM`, the most after, the growth."""
    after = [(t, s) for t, s in samples if t >= WARM]
    if len(after) < 2:
        return ["too short to judge (run past the first minute)"]
    lines = []
    for name in after[0][1]:
        base = after[0][1][name]
        top = max(s[name] for _, s in after)
        last = after[-1][1][name]
        growth = (top - base) / base if base else 0.0
        flat = "flat" if growth <= FLAT else "GROWING"
        lines.append(f"{name}: {base:.0f} MB at {after[0][0]:.0f} s, at most {top:.0f} MB after, "
                     f"{last:.0f} MB at the end: +{growth * 100:.1f}% ({flat}, limit "
                     f"{FLAT * 100:.0f}%)")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    claude = CLIENTS["claude"]
    template = long_request(args.long_kb, claude)
    with tempfile.TemporaryDirectory(prefix="omniroute-soak-") as name:
        tmp = Path(name)
        short = provider(20, 0.0)
        long = provider(args.events, args.pacing)
        front: Proc | None = None
        try:
            confdir, ssl_context = make_confdir(tmp / "confdir")
            assert short.match is not None and long.match is not None
            env = Env(short.match.group(1), tmp, confdir, ssl_context, 20, template, claude)
            path = config(tmp, short.match.group(1), long.match.group(1))
            front = mitmdump(env, "mitmdump+omniroute", "-s", str(ROOT / "addons" / "omniroute.py"),
                             "--set", f"omniroute_config={path}")
            while len(front.pids()) < 2:  # the engine child
                time.sleep(0.1)
            assert front.match is not None
            proxy = f"http://127.0.0.1:{front.match.group(1)}"

            def target(model: str, body: dict[str, object], turn: str | None = None) -> Target:
                return Target(claude.url(model), claude.headers(CLIENT_KEY),
                              {**body, "model": model, "stream": True}, proxy=proxy,
                              ssl_context=ssl_context, done_marker=claude.done_marker,
                              turn_text=turn)

            quarter = max(1, args.streams // 4)
            targets = [
                # (its signatures as the provider gave them: a session on that route)
                # each long request the next turn of its conversation (what is remembered
                # between turns must stay bounded)
                (target("soak-long-same", as_issued(template, claude, "soak-anthropic"),
                        LAST_TURN), quarter),
                (target("soak-long-cross", template, LAST_TURN), quarter),
                (target("soak-stream", claude.short("soak-stream")), args.streams - 2 * quarter),
            ]
            pids = {"mitmdump": front.pid, "engine": front.pids()[1]}
            print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.streams} streams "
                  f"for {args.minutes:g} min: {quarter} with {args.long_kb} KB requests to a "
                  f"same-format provider, {quarter} to a cross-format one (20-event answers), "
                  f"{args.streams - 2 * quarter} short prompts with {args.events}-event streams "
                  f"({args.pacing * 1000:g} ms apart)\n", flush=True)
            samples, results = asyncio.run(soak(args, targets, pids))
        finally:
            if front is not None:
                front.stop()
            long.stop()
            short.stop()
    kinds = ("long requests, same format", "long requests, cross-format", "long streams")
    print()
    for kind, result in zip(kinds, results, strict=True):
        errors = ""
        if result.errors:
            errors = f", {len(result.errors)} errors (first: {result.errors[0]})"
        print(f"- {kind}: {result.streams} streams{errors}")
    for line in verdict(samples):
        print(f"- {line}")
    failed = any(r.errors for r in results) or any("GROWING" in v for v in verdict(samples))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
