"""The proxy benchmark: one command, one table, every path in the same run.

    .venv/bin/python scripts/bench/run.py            # everything (LiteLLM installed on first use)
    .venv/bin/python scripts/bench/run.py --quick    # a few short streams per path (smoke test)

See scripts/bench/README.md for what each path and column means.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load import Result, Workers, run_load
from procs import Proc, cpu_seconds, peak_rss_mb
from report import Row, render
from setups import (
    BIN,
    CLIENTS,
    HERE,
    ROOT,
    SAME_PROVIDER,
    Client,
    Env,
    Path_,
    Setup,
    bare,
    direct,
    engine_direct,
    ensure_litellm,
    litellm,
    make_confdir,
    omniroute,
    redis_server,
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=200, help="events per stream (200)")
    p.add_argument("--pacing", type=float, default=0.0,
                   help="seconds the provider waits between events (0)")
    p.add_argument("--levels", default="1,16,64", help="concurrent streams (1,16,64)")
    p.add_argument("--streams", type=int, default=20,
                   help="streams per worker at each level, at least 30 in all (20)")
    p.add_argument("--seconds", type=float, default=20.0,
                   help="no new stream after this long at one level (20)")
    p.add_argument("--modes", default="default,inprocess",
                   help="omniroute engine modes to measure (default,inprocess)")
    p.add_argument("--logs", type=Path, help="write each process's output into this folder")
    p.add_argument("--no-litellm", action="store_true", help="skip LiteLLM")
    p.add_argument("--body-kb", default="0",
                   help="request bodies shaped like Claude Code's after a long session, of "
                   "these sizes in KB, one table each (0: a short prompt; default 0)")
    p.add_argument("--client", default="claude",
                   help="the client formats whose requests are sent, one table each: claude "
                   "(Anthropic Messages), codex (OpenAI Responses), gemini (Gemini), chat (OpenAI "
                   "Chat Completions; its cross-format path goes to Anthropic); "
                   "comma-separated (claude)")
    p.add_argument("--long", action="store_true",
                   help="the long-conversation workload: 100, 500 and 1000 KB requests, "
                   "20-event answers, 1 and 4 clients")
    p.add_argument("--native-signatures", action="store_true",
                   help="long requests: leave the signatures as the vendor issued them (a "
                   "session that did not come through omniroute), not as the same-format "
                   "provider issued them through omniroute")
    p.add_argument("--state", metavar="URL",
                   help="also run the default mode with omniroute_state=URL (a redis:// URL, or "
                   "auto: a redis-server started for the run) beside the memory state")
    p.add_argument("--rounds", type=int, default=10,
                   help="with --state: the memory and the shared state's cross-format paths "
                   "run side by side in this many alternating rounds per level (10)")
    p.add_argument("--round-streams", type=int, default=6,
                   help="with --state: streams per worker in each round, at least 24 (6)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 20 events, levels 1,4, a few streams, no LiteLLM")
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.levels, args.streams, args.seconds = 20, "1,4", 2, 5.0
        args.rounds, args.round_streams = 2, 2
        args.no_litellm = True
    if args.rounds < 1:
        p.error("--rounds: at least 1")
    if args.long:
        args.events, args.levels, args.body_kb = 20, "1,4", "100,500,1000"
    args.levels = tuple(int(n) for n in args.levels.split(","))
    args.body_kb = tuple(int(n) for n in args.body_kb.split(","))
    args.client = tuple(name.strip() for name in args.client.split(",") if name.strip())
    unknown = [name for name in args.client if name not in CLIENTS]
    if unknown:
        p.error(f"--client: unknown {', '.join(unknown)} (one of: {', '.join(CLIENTS)})")
    args.modes = tuple(m for m in args.modes.split(",") if m)
    return args


def setups(env: Env, args: argparse.Namespace, tmp: Path, state: str | None) -> list[Setup]:
    out = [Setup("provider", direct(env)), Setup("bare", bare(env))]
    for i, mode in enumerate(args.modes):
        out.append(Setup(f"omniroute {mode}", omniroute(env, mode, same=i == 0, failover=i == 0)))
        if state and mode == "default":
            out.append(Setup("omniroute default+redis",
                             omniroute(env, mode, same=False, failover=False, state=state)))
    out.append(Setup("engine", engine_direct(env)))
    if not args.no_litellm and env.client.cross_model != CLIENTS["claude"].cross_model:
        # (LiteLLM's path goes to the Chat provider: for a Chat client, not cross-format)
        print("... litellm: skipped for this client (its path is not cross-format)",
              file=sys.stderr, flush=True)
    elif not args.no_litellm:
        out.append(Setup("litellm", litellm(env, ensure_litellm(tmp / "litellm-install.log"))))
    return out


def measure_path(path: Path_, setup: Setup, args: argparse.Namespace) -> Row:
    """A path's levels one after another, each on fresh connections."""
    pids = [p for proc in setup.procs for p in proc.pids()]
    warm = asyncio.run(run_load(path.target, 2, 4, 30.0))
    row = Row(path.name, {}, warm.errors[:1])
    cpu0 = {pid: cpu_seconds([pid]) for pid in pids}
    for level in path.levels or args.levels:
        streams = max(30, level * args.streams) if not args.quick else level * 2
        result = asyncio.run(run_load(path.target, level, streams, args.seconds))
        row.results[level] = result
        row.streams += result.streams
    if setup.procs:
        row.cpu = sum(cpu_seconds([pid]) - c for pid, c in cpu0.items())
        row.cpu_main = cpu_seconds([pids[0]]) - cpu0[pids[0]]
    return row


async def interleaved(pairs: list[tuple[Path_, Setup]], args: argparse.Namespace) -> list[Row]:
    """Two paths measured in alternating rounds at each level (A B, B A, A B, ...),
    each on its own kept-alive connections: the machine's load drifts alike for
    both, and round i of one is compared with round i of the other."""
    workers = [Workers(path.target) for path, _ in pairs]
    rows = [Row(path.name, {}, []) for path, _ in pairs]
    pids = [[p for proc in setup.procs for p in proc.pids()] for _, setup in pairs]
    top = max(args.levels)
    try:
        for w, row in zip(workers, rows, strict=True):  # every connection opened, warm
            row.errors += (await w.run(top, 2 * top, 30.0)).errors[:1]
        for row in rows:
            row.cpu = row.cpu_main = 0.0
        for level in args.levels:
            streams = max(24, level * args.round_streams) if not args.quick else level * 2
            for i in range(args.rounds):
                for k in (0, 1) if i % 2 == 0 else (1, 0):
                    cpu0 = [cpu_seconds([pid]) for pid in pids[k]]
                    result = await workers[k].run(level, streams, args.seconds)
                    used = [cpu_seconds([pid]) - c for pid, c in zip(pids[k], cpu0, strict=True)]
                    rows[k].rounds.setdefault(level, []).append((result, sum(used)))
                    rows[k].cpu = (rows[k].cpu or 0.0) + sum(used)
                    rows[k].cpu_main = (rows[k].cpu_main or 0.0) + used[0]
            for row in rows:
                row.results[level] = Result.merged([r for r, _ in row.rounds[level]])
                row.streams += row.results[level].streams
    finally:
        for w in workers:
            w.close()
    return rows


def measure_setup(setup: Setup, args: argparse.Namespace, provider: Proc,
                  paired: Setup | None = None) -> list[Row]:
    """``paired`` (the shared state's setup): its cross-format path and this
    setup's run in interleaved rounds (:func:`interleaved`), both setups up."""
    rows: list[Row] = []
    setups = [setup] if paired is None else [setup, paired]
    try:
        paths = setup.start(setup)
        twin = paired.start(paired)[0] if paired is not None else None
        theirs: Row | None = None
        for path in paths:
            if twin is not None and paired is not None and path.name.endswith("cross-format"):
                mine, theirs = asyncio.run(interleaved([(path, setup), (twin, paired)], args))
                rows.append(mine)
                continue
            rows.append(measure_path(path, setup, args))
        if rows:
            _peak_rss(setup, rows[0])
        if theirs is not None and paired is not None:
            rows.append(theirs)
            _peak_rss(paired, theirs)
    except RuntimeError as exc:
        rows.append(Row(setup.name, {}, [" / ".join(str(exc).splitlines()[-6:])]))
    finally:
        for one in setups:
            one.stop()
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for proc in one.procs:
                    name = "".join(c if c.isalnum() else "-" for c in proc.name)
                    (args.logs / f"{name}.log").write_text("\n".join(proc.lines) + "\n")
    return rows


def _peak_rss(setup: Setup, row: Row) -> None:
    for proc in setup.procs:
        for pid in proc.pids():
            name = proc.name if pid == proc.pid else f"{proc.name} child"
            row.rss[name] = max(row.rss.get(name, 0.0), peak_rss_mb(pid))


def machine() -> str:
    import os
    cpus = os.cpu_count()
    return f"{platform.machine()}, {cpus} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    failed = 0
    for client in args.client:
        for kb in args.body_kb:
            failed |= run_once(args, kb, CLIENTS[client])
    return failed


def long_request(kb: int, client: Client) -> dict[str, Any]:
    """scripts/bench_inputs.py's long request of the client's shape (a sibling folder's module)."""
    spec = importlib.util.spec_from_file_location("bench_inputs", HERE.parent / "bench_inputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    request: dict[str, Any] = module.LONG_REQUESTS[client.name](kb)
    return request


def as_issued(request: dict[str, Any], client: Client, issuer: str | None = None) -> dict[str, Any]:
    """The long request as a client sends it after earlier turns through
    omniroute's same-format route: each signature in the envelope naming the
    provider that issued it (what the engine gave the client). Every path
    sends these same bytes."""
    from omniroute_mitm.engine.core.calls import dumps
    from omniroute_mitm.translators.provenance import stamp_bytes
    from omniroute_mitm.translators.sse import loads

    issuer = issuer or SAME_PROVIDER[client.name]
    stamped = stamp_bytes(client.format, issuer, dumps(request))
    signed: dict[str, Any] = loads(stamped)
    return signed


def run_once(args: argparse.Namespace, kb: int, client: Client) -> int:
    template = long_request(kb, client) if kb else None
    if template is not None and not args.native_signatures:
        template = as_issued(template, client)
    with tempfile.TemporaryDirectory(prefix="omniroute-bench-") as name:
        tmp = Path(name)
        provider = Proc("provider", [str(BIN / "python"), str(HERE / "provider.py"),
                                     "--events", str(args.events), "--pacing", str(args.pacing)],
                        r"listening at (http://\S+)", cwd=ROOT).start()
        server, state = None, args.state
        try:
            if state == "auto":
                server, state = redis_server(tmp)
            confdir, ssl_context = make_confdir(tmp / "confdir")
            assert provider.match is not None
            env = Env(provider.match.group(1), tmp, confdir, ssl_context, args.events, template,
                      client)
            rows: list[Row] = []
            started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            todo = setups(env, args, tmp, state)
            pairs = {"omniroute default": next(
                (s for s in todo if s.name == "omniroute default+redis"), None)}
            for setup in todo:
                if setup.name == "omniroute default+redis":
                    continue  # measured with the memory state's, round by round
                twin = pairs.get(setup.name)
                print(f"... {setup.name}{' and ' + twin.name if twin else ''}",
                      file=sys.stderr, flush=True)
                rows += measure_setup(setup, args, provider, twin)
            rss = peak_rss_mb(provider.pid)
        finally:
            provider.stop()
            if server is not None:
                server.stop()
    shape = {"claude": "Claude Code", "codex": "Codex CLI", "gemini": "Gemini CLI",
             "chat": "OpenAI Chat agent"}[client.name]
    request = f"{kb} KB {shape}-shaped requests" if kb else f"short prompts ({shape} format)"
    head = (f"{started}, {machine()}; {request}, {args.events}-event streams, pacing "
            f"{args.pacing} s; provider peak RSS {rss:.0f} MB")
    text, failed = render(rows, args.levels, head, long=bool(kb), rounds=args.rounds)
    print(text)
    return 1 if failed else 0


__all__ = ["Result", "main"]

if __name__ == "__main__":
    sys.exit(main())
