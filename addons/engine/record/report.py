"""Reading the usage store: filtered rows and grouped totals.

Used by ``scripts/usage`` (terminal, CSV, JSON, PNG) and the dashboard.
Rows are plain dicts with the columns of :data:`engine.usage.COLUMNS` plus
``id``; times are Unix seconds (``day`` is the local date).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from omniroute_mitm.engine.core.database import Store

GROUPS = {
    "day": lambda r: day(r["time"]),
    "provider": lambda r: r["provider"],
    "model": lambda r: r["upstream_model"] or r["requested_model"],
    "app": lambda r: r["client_app"],
    "route": lambda r: r["target"],
    "endpoint": lambda r: r.get("client_endpoint") or "(direct)",
    "user": lambda r: r.get("user") or "(none)",
    "group": lambda r: r.get("group") or "(none)",
}
TOKEN_CLASSES = ("input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning")


@dataclass(frozen=True, slots=True)
class Filters:
    since: float | None = None
    until: float | None = None
    """Unix seconds, ``until`` excluded."""
    provider: str | None = None
    model: str | None = None
    app: str | None = None
    user: str | None = None
    group: str | None = None


def day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).date().isoformat()


def rows(
    store: Store, filters: Filters = Filters(), limit: int | None = None
) -> list[dict[str, Any]]:
    """Matching rows, oldest first (``limit``: the newest ``limit`` of them)."""
    where, params = _where(filters)
    sql = f"SELECT * FROM requests{where} ORDER BY id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    found = [dict(r) for r in store.read(sql, params)]
    found.reverse()
    return found


def _where(f: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for sql, value in (
        ("time >= ?", f.since),
        ("time < ?", f.until),
        ("provider = ?", f.provider),
        ("(upstream_model = ? OR requested_model = ?)", f.model),
        ("client_app = ?", f.app),
        ('"user" = ?', f.user),
        ('"group" = ?', f.group),
    ):
        if value is not None:
            clauses.append(sql)
            params.extend([value] * sql.count("?"))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def group(found: Iterable[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """One total per value of ``by`` (see :data:`GROUPS`), largest cost first
    (``day``: in date order)."""
    key = GROUPS[by]
    buckets: dict[str, list[dict[str, Any]]] = {}
    for row in found:
        buckets.setdefault(str(key(row)), []).append(row)
    out = [{by: name, **totals(items)} for name, items in buckets.items()]
    if by == "day":
        return sorted(out, key=lambda g: g["day"])
    return sorted(out, key=lambda g: (-g["cost"], -g["requests"], g[by]))


def reached_target(row: dict[str, Any]) -> bool:
    """A row of a request that a target answered (or began to answer): not
    one refused before routing (a bad request) nor one whose every attempt
    failed or that the client left before any attempt reached a target."""
    return bool(row["provider"])


def totals(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ttfts = sorted(r["ttft_ms"] for r in items if r["ttft_ms"] is not None)
    n = len(items)
    out: dict[str, Any] = {"requests": n}
    for name in TOKEN_CLASSES:
        out[f"{name}_tokens"] = sum(r[f"{name}_tokens"] or 0 for r in items)
    out["web_searches"] = sum(r.get("web_searches") or 0 for r in items)
    out["cost"] = round(sum(r["cost"] or 0.0 for r in items), 6)
    out["unpriced"] = sum(1 for r in items if r["cost"] is None)
    out["estimated"] = sum(1 for r in items if r["estimated"])
    out["error_rate"] = _rate(sum(1 for r in items if r["status"] >= 400 or r["error"]), n)
    out["fallback_rate"] = _rate(sum(1 for r in items if r["fallbacks"]), n)
    out["ttft_p50_ms"] = _percentile(ttfts, 50)
    out["ttft_p95_ms"] = _percentile(ttfts, 95)
    return out


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 1)


def start_of_day(now: float) -> float:
    today = dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.timestamp()


def start_of_month(now: float) -> float:
    first = dt.datetime.fromtimestamp(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first.timestamp()
