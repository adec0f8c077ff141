"""``omniroute-usage`` (also ``scripts/usage``): the usage report.

omniroute-usage                          # by day, this month, a table
omniroute-usage --by provider --since 2026-12-01 --until 2026-12-08
omniroute-usage --by model --provider ds --csv > usage.csv
omniroute-usage --rows --json            # every request as a JSON object
omniroute-usage --by user                # per proxy user (--by group: per group)
omniroute-usage --user alice --rows      # one user's requests
omniroute-usage --plot usage.png         # cost and tokens per day (matplotlib)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from omniroute_mitm.engine.core.database import (
    DEFAULT_URL,
    StoreError,
    data_dir,
    is_server,
    open_store,
    sqlite_path,
)
from omniroute_mitm.engine.record import report
from rich.console import Console
from rich.table import Table

SHOWN = (
    ("requests", "requests"), ("input_tokens", "input"), ("cache_read_tokens", "cache read"),
    ("cache_write_tokens", "cache write"), ("cache_write_1h_tokens", "of which 1h"),
    ("output_tokens", "output"),
    ("reasoning_tokens", "reasoning"), ("cost", "cost $"), ("error_rate", "errors"),
    ("fallback_rate", "fallbacks"), ("ttft_p50_ms", "p50 ttft ms"),
    ("ttft_p95_ms", "p95 ttft ms"),
)  # fmt: skip


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="omniroute-usage", description=__doc__.split("\n")[0])
    p.add_argument("--store", default=DEFAULT_URL,
                   help="store URL: sqlite:///FILE or postgresql://USER@HOST/DB "
                        "(default: %(default)s)")  # fmt: skip
    p.add_argument("--data-dir", help="default: $OMNIROUTE_DATA_DIR, else data/ in the repo")
    p.add_argument("--by", choices=sorted(report.GROUPS), default="day", help="group by")
    p.add_argument("--since", help="YYYY-MM-DD (default: the 1st of this month)")
    p.add_argument("--until", help="YYYY-MM-DD, excluded")
    p.add_argument("--all", action="store_true", help="all time (no default --since)")
    p.add_argument("--provider")
    p.add_argument("--model")
    p.add_argument("--app", help="client app: claude-cli, codex, gemini-cli, ...")
    p.add_argument("--user", help="one proxy user (mitmproxy's proxyauth name)")
    p.add_argument("--group", help="one group (config.yaml's users:)")
    p.add_argument("--rows", action="store_true", help="every request instead of groups")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true")
    out.add_argument("--json", action="store_true")
    p.add_argument("--plot", metavar="FILE.png", help="cost and tokens per day")
    return p.parse_args(argv)


def _date(value: str, name: str) -> float:
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise SystemExit(f"omniroute-usage: {name}: want YYYY-MM-DD, got {value!r}") from None


def filters(args: argparse.Namespace, now: float) -> report.Filters:
    since = None if args.all else report.start_of_month(now)
    return report.Filters(
        since=_date(args.since, "--since") if args.since else since,
        until=_date(args.until, "--until") if args.until else None,
        provider=args.provider,
        model=args.model,
        app=args.app,
        user=args.user,
        group=args.group,
    )


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = _args(argv)
    out = out or sys.stdout
    base = data_dir(args.data_dir)
    try:
        if not is_server(args.store) and not sqlite_path(args.store, base).exists():
            print(f"omniroute-usage: no usage store at {sqlite_path(args.store, base)}",
                  file=sys.stderr)  # fmt: skip
            return 1
        store = open_store(args.store, base=base)
    except StoreError as exc:
        print(f"omniroute-usage: {exc}", file=sys.stderr)
        return 1
    try:
        found = report.rows(store, filters(args, time.time()))
    except StoreError as exc:  # the server is unreachable
        print(f"omniroute-usage: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.plot:
        code = plot(report.group(found, "day"), Path(args.plot))
        if code or not (args.csv or args.json):
            return code
    table = found if args.rows else report.group(found, args.by)
    try:
        if args.json:
            json.dump(table, out, indent=1)
            out.write("\n")
        elif args.csv:
            write_csv(table, out)
        else:
            show(table, args, out)
        out.flush()
    except BrokenPipeError:  # `| head` closed the pipe: stop quietly, as Unix tools do
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe ended
    return 0


def write_csv(table: list[dict[str, Any]], out: TextIO) -> None:
    if not table:
        return
    writer = csv.DictWriter(out, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)


def show(table: list[dict[str, Any]], args: argparse.Namespace, out: TextIO) -> None:
    console = Console(file=out, width=200 if not out.isatty() else None)
    if not table:
        console.print("no requests in this range")
        return
    if args.rows:
        keys = ["time", "user", "client_app", "route", "status", "input_tokens",
                "output_tokens", "cost"]  # fmt: skip
        grid = Table(*keys, title="requests")
        for r in table:
            r = {**r, "time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["time"]))}
            grid.add_row(*(_cell(k, r[k]) for k in keys))
    else:
        grid = Table(args.by, *(label for _, label in SHOWN), title=f"usage by {args.by}")
        for g in table:
            grid.add_row(str(g[args.by]), *(_cell(k, g[k]) for k, _ in SHOWN))
    for column in grid.columns[1:]:
        column.justify = "right"
    console.print(grid)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "cost":
        return f"{value:,.4f}"
    if key.endswith("_rate"):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def plot(days: list[dict[str, Any]], path: Path) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "omniroute-usage: --plot needs matplotlib: pip install 'omniroute-mitm[plot]'",
            file=sys.stderr,
        )
        return 2
    fig = figure(plt, days)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def figure(plt: Any, days: list[dict[str, Any]]) -> Any:
    """Cost and tokens per day. Cost starts at 0 (never a negative axis); days
    with nothing priced say so instead of drawing a flat zero; the token legend
    sits beside the bars, not over them."""
    labels = [g["day"] for g in days]
    fig, (cost_ax, tok_ax) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    cost_ax.bar(labels, [g["cost"] for g in days], color="#3b7dd8")
    cost_ax.set_ylabel("cost ($)")
    cost_ax.set_ylim(bottom=0)
    if not any(g["cost"] for g in days):
        cost_ax.set_ylim(0, 1)
        cost_ax.text(0.5, 0.5, "not priced (no price for these models)", ha="center",
                     va="center", transform=cost_ax.transAxes)  # fmt: skip
    bottom = [0] * len(days)
    for name in ("input", "cache_read", "cache_write", "output"):
        values = [g[f"{name}_tokens"] for g in days]
        tok_ax.bar(labels, values, bottom=bottom, label=name.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    tok_ax.set_ylabel("tokens")
    tok_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.suptitle("omniroute usage per day")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
