"""The usage dashboard: one read-only HTML page, rendered on the server.

No script, no external asset: it works offline and in any browser. It shows
today's and this month's cost and tokens per provider and model, the recent
requests with their route, the quota windows seen on native traffic, and
each target's health over the last hour (from the store); with proxy users,
each user's and group's spend this UTC day and month against their budgets.
"""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Sequence
from typing import Any

from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.database import Store, StoreUnavailable
from omniroute_mitm.engine.core.team import DEFAULT_USER, Limits, entry
from omniroute_mitm.engine.record import report

RECENT = 20
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .4em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f0f0f0;font-weight:600}.muted{color:#888}.bad{color:#b00020}.warn{color:#a15c00}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;padding:.7em 1em;
box-shadow:0 1px 2px #0002;min-width:12em}.card b{font-size:1.5em;display:block}
"""


def render(store: Store | None, now: float | None = None, config: Config | None = None) -> bytes:
    now = time.time() if now is None else now
    if store is None:
        body = "<p>No usage store: the engine runs without one (omniroute_store=none).</p>"
        return _page(body)
    try:
        return _render(store, now, config)
    except StoreUnavailable:
        return _page(
            "<p>The usage store is unreachable (its PostgreSQL server is down). "
            "Usage rows wait in the local spool and appear here when it is back.</p>"
        )


def _render(store: Store, now: float, config: Config | None) -> bytes:
    month = report.rows(store, report.Filters(since=report.start_of_month(now)))
    today = [r for r in month if r["time"] >= report.start_of_day(now)]
    recent = report.rows(store, limit=RECENT)
    hour = [r for r in month if r["time"] >= now - 3600]
    parts = [
        _cards(today, month),
        _unpriced(month),
        _team(store, now, config),
        "<h2>Today by provider and model</h2>",
        _by_model(today),
        "<h2>This month by provider and model</h2>",
        _by_model(month),
        "<h2>Recent requests</h2>",
        _recent(list(reversed(recent))),
        "<h2>Quota windows seen on native traffic</h2>",
        _quotas(store),
        "<h2>Target health (last hour)</h2>",
        _health(hour),
    ]
    return _page("".join(parts))


def _page(body: str) -> bytes:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width'>"
        f"<title>omniroute usage</title><style>{STYLE}</style></head><body>"
        f"<h1>omniroute usage</h1><p class=muted>as of {stamp} (reload to refresh)</p>"
        f"{body}</body></html>"
    ).encode()


def _cards(today: list[dict[str, Any]], month: list[dict[str, Any]]) -> str:
    t, m = report.totals(today), report.totals(month)
    cards = [
        ("Cost today", _cost(today, t)),
        ("Cost this month", _cost(month, m)),
        ("Requests today", str(t["requests"])),
        ("Tokens today", f"{_tokens(t):,}"),
        ("Errors today", f"{t['error_rate']:.0%}"),
    ]
    inner = "".join(f"<div class=card>{html.escape(k)}<b>{v}</b></div>" for k, v in cards)
    return f"<div class=cards>{inner}</div>"


def _by_model(found: list[dict[str, Any]]) -> str:
    buckets: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in found:
        model = r["upstream_model"] or r["requested_model"]
        buckets.setdefault((r["provider"], model), []).append(r)
    rows = []
    for (provider, model), items in buckets.items():
        t = report.totals(items)
        rows.append(
            (
                t["cost"],
                [
                    provider,
                    model,
                    t["requests"],
                    t["input_tokens"],
                    t["cache_read_tokens"],
                    t["cache_write_tokens"],
                    t["output_tokens"],
                    t["reasoning_tokens"],
                    _cost(items, t),
                ],
            )
        )
    rows.sort(key=lambda x: -x[0])
    head = ["provider", "model", "#requests", "#input", "#cache read", "#cache write",
            "#output", "#reasoning", "#cost"]  # fmt: skip
    return _table(head, [r for _, r in rows])


def _recent(found: list[dict[str, Any]]) -> str:
    rows = []
    for r in found:
        status = str(r["status"])
        if r["status"] >= 400 or r["error"]:
            status = f"<span class=bad>{status}</span>"
        route = html.escape(r["route"])
        if r["fallbacks"]:
            route = f"<span class=warn>{route}</span>"
        tokens = f"{r['input_tokens'] + r['cache_read_tokens'] + r['cache_write_tokens']}"
        tokens += f" / {r['output_tokens']}" + (" ~" if r["estimated"] else "")
        rows.append(
            [
                time.strftime("%H:%M:%S", time.localtime(r["time"])),
                r["client_app"],
                _raw(route),
                _raw(status),
                tokens,
                _ms(r["ttft_ms"]),
                _usd(r["cost"]),
            ]
        )
    return _table(["time", "app", "route", "#status", "#in / out", "#first token", "#cost"], rows)


def _quotas(store: Any) -> str:
    found = store.read(  # the newest row of each window (portable: no bare columns)
        "SELECT r.provider, r.key_id, r.quota_window, r.quota_used, r.quota_reset, "
        "r.time AS seen FROM requests r JOIN (SELECT MAX(id) AS id FROM requests "
        "WHERE quota_window IS NOT NULL GROUP BY provider, key_id, quota_window) newest "
        "ON r.id = newest.id ORDER BY seen DESC LIMIT 20"
    )
    rows = [[r["provider"], r["key_id"], r["quota_window"], f"{r['quota_used']:.0%}",
             _when(r["quota_reset"]), time.strftime("%H:%M:%S", time.localtime(r["seen"]))]
            for r in found]  # fmt: skip
    return _table(["provider", "key", "window", "#used", "resets", "seen"], rows)


def _health(found: list[dict[str, Any]]) -> str:
    buckets: dict[str, list[dict[str, Any]]] = {}
    for r in filter(report.reached_target, found):
        buckets.setdefault(f"{r['provider']}/{r['upstream_model']}", []).append(r)
    rows = []
    for target, items in sorted(buckets.items()):
        t = report.totals(items)
        last_error = next((r["error"] for r in reversed(items) if r["error"]), "")
        ok = 1 - t["error_rate"]
        mark = f"<span class={'bad' if ok < 0.9 else 'muted'}>{ok:.0%}</span>"
        rows.append(
            [
                target,
                t["requests"],
                _raw(mark),
                _ms(t["ttft_p50_ms"]),
                _ms(t["ttft_p95_ms"]),
                (last_error or "")[:80],
            ]
        )
    return _table(
        ["target", "#requests", "#success", "#p50 first token", "#p95", "last error"], rows
    )


class _raw(str):
    """Already-escaped HTML for a cell."""


def _table(head: Sequence[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p class=muted>nothing yet</p>"
    numeric = [h.startswith("#") for h in head]
    ths = "".join(
        f"<th class=n>{html.escape(h[1:])}</th>" if n else f"<th>{html.escape(h)}</th>"
        for h, n in zip(head, numeric, strict=True)
    )
    body = "".join(
        "<tr>" + "".join(_td(v, n) for v, n in zip(row, numeric, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{ths}</tr>{body}</table>"


def _td(value: Any, numeric: bool) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:,}"
    text = value if isinstance(value, _raw) else html.escape(str(value))
    return f"<td class=n>{text}</td>" if numeric else f"<td>{text}</td>"


NOT_PRICED = "not priced"


def _usd(value: float | None) -> str:
    if value is None:
        return NOT_PRICED
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def _cost(items: list[dict[str, Any]], totals: dict[str, Any]) -> str:
    """A total's cost, saying "not priced" the way a row does: for all of it,
    or beside the sum of what was priced (requests with tokens but no price)."""
    unpriced = sum(1 for r in items if r["cost"] is None and _used_tokens(r))
    priced = sum(1 for r in items if r["cost"] is not None)
    if unpriced and not priced:
        return NOT_PRICED
    if unpriced:
        return f"{_usd(totals['cost'])} + {unpriced} {NOT_PRICED}"
    return _usd(totals["cost"])


def _used_tokens(row: dict[str, Any]) -> bool:
    return bool((row["input_tokens"] or 0) + (row["output_tokens"] or 0))


def _unpriced(found: list[dict[str, Any]]) -> str:
    """Which models had no price this month (their cost is not in the totals)."""
    models = sorted({f"{r['provider'] or 'native'}/{r['upstream_model'] or r['requested_model']}"
                     for r in found if r["cost"] is None and _used_tokens(r)})  # fmt: skip
    if not models:
        return ""
    names = ", ".join(html.escape(m) for m in models)
    return (
        f"<p class=muted>{NOT_PRICED}: {names} (no price in the price data; a provider's "
        "<code>price:</code> in config.yaml sets one)</p>"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%m-%d %H:%M", time.localtime(ts))


def _tokens(t: dict[str, Any]) -> int:
    return sum(t[f"{c}_tokens"] for c in ("input", "cache_read", "cache_write", "output"))


def _team(store: Store, now: float, config: Config | None) -> str:
    """Spend per user and per group this UTC day and month (the budgets'
    windows) against their budgets; nothing when no row has a user and
    config.yaml names none."""
    start = dt.datetime.fromtimestamp(now, dt.UTC)
    month_start = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    day_start = start.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    rows = report.rows(store, report.Filters(since=month_start.timestamp()))
    users = config.users if config else {}
    groups = config.groups if config else {}
    names = [n for n in users if n != DEFAULT_USER] + [r["user"] for r in rows if r.get("user")]
    if not names and not groups:
        return ""
    lines = []
    for name in dict.fromkeys(names):
        mine = [r for r in rows if r.get("user") == name]
        limits = entry(users, name)
        group = limits.group if limits else (mine[-1]["group"] if mine else None)
        lines.append(_line("user", name, group or "", mine, day_start, limits))
    for name, limits in groups.items():
        mine = [r for r in rows if r.get("group") == name]
        lines.append(_line("group", name, "", mine, day_start, limits))
    head = ["", "name", "group", "#requests today", "#today", "#budget/day", "#this month",
            "#budget/month"]  # fmt: skip
    return "<h2>Spend per user and group (UTC day and month)</h2>" + _table(head, lines)


def _line(
    kind: str,
    name: str,
    group: str,
    rows: list[dict[str, Any]],
    day_start: float,
    limits: Limits | None,
) -> list[Any]:
    today = [r for r in rows if r["time"] >= day_start]
    spent_day = sum(r["cost"] or 0.0 for r in today if not r["native"])  # (as budgets count)
    spent_month = sum(r["cost"] or 0.0 for r in rows if not r["native"])
    day_budget = limits.usd_per_day if limits else None
    month_budget = limits.usd_per_month if limits else None
    return [kind, name, group, len(today), _against(spent_day, day_budget),
            _usd(day_budget) if day_budget is not None else "-",
            _against(spent_month, month_budget),
            _usd(month_budget) if month_budget is not None else "-"]  # fmt: skip


def _against(spent: float, budget: float | None) -> str:
    if budget is None:
        return _usd(spent)
    mark = "bad" if spent >= budget else "muted"
    return _raw(f"{_usd(spent)} <span class={mark}>({spent / budget:.0%})</span>"
               if budget else f"<span class=bad>{_usd(spent)}</span>")  # fmt: skip
