"""``GET /omniroute/status``: what the router knows, as JSON.

Each combo (and each provider/model a route names directly) with its
targets and keys: state (ok, cooling down until, breaker open/half-open),
recent success rate, median time to first token, in-flight count and the
last quota headers. Keys appear by id (``provider#n``), never by value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omniroute_mitm.engine.core.config import NATIVE, Config
from omniroute_mitm.engine.core.team import DEFAULT_USER, Limits, entry
from omniroute_mitm.engine.route.plan import Attempt, expand
from omniroute_mitm.engine.route.router import Router


def status(config: Config, router: Router) -> dict[str, Any]:
    combos: dict[str, Any] = {}
    for name, combo in config.combos.items():
        combos[name] = {
            "strategy": combo.strategy,
            "affinity": "session" if combo.sticky else "none",
            "targets": [_target(config, router, t.to) for t in combo.entries],
        }
    for route in config.routes:
        if route.to not in config.combos and route.to not in combos:
            combos[route.to] = {
                "strategy": "priority",
                "affinity": "none",
                "targets": [_target(config, router, route.to)],
            }
    natives = {
        scope: _quota(seen)
        for scope, seen in sorted(router.quota.items())
        if scope.startswith(f"{NATIVE}@")
    }
    return {
        "time": _iso(router.clock()),
        "state": _state(router),
        "combos": combos,
        "native": natives,
        "users": _users(config, router),
        "groups": {
            name: _spend(router, "group", name, group) for name, group in config.groups.items()
        },
    }


def _state(router: Router) -> dict[str, Any]:
    """Where the router's state lives (omniroute_state), and whether it answers."""
    where = getattr(router.store, "where", None)
    if where is None:
        return {"shared": None}
    return {"shared": where.shown, "reachable": bool(getattr(router.store, "up", False))}


def _users(config: Config, router: Router) -> dict[str, Any]:
    """Each user config.yaml names or this engine saw: group, spend and limits
    (the policy's counters: UTC day and month)."""
    names = [n for n in config.users if n != DEFAULT_USER] + list(router.policy.seen)
    out: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        mine = entry(config.users, name)
        out[name] = {"group": mine.group if mine else None,
                     **_spend(router, "user", name, mine)}  # fmt: skip
    return out


def _spend(router: Router, kind: str, name: str, limits: Limits | None) -> dict[str, Any]:
    spent = router.policy.spent(kind, name)
    out: dict[str, Any] = {"usd_today": round(spent["today"], 6),
                           "usd_month": round(spent["month"], 6)}  # fmt: skip
    if limits is not None:
        for key in ("usd_per_day", "usd_per_month", "requests_per_minute", "tokens_per_minute"):
            if (value := getattr(limits, key)) is not None:
                out[key] = value
    return out


def _target(config: Config, router: Router, target: str) -> dict[str, Any]:
    attempts = expand(config, target)
    out: dict[str, Any] = {"target": target}
    if not attempts:
        out["state"] = "disabled (a key variable is not set)"
        return out
    state, until = router.health.breaker(attempts[0].target)
    out["breaker"] = state
    if state != "closed":
        out["breaker_until"] = _iso(until)
    out["keys"] = [_key(router, a) for a in attempts]
    return out


def _key(router: Router, attempt: Attempt) -> dict[str, Any]:
    stats = router.health.stat(attempt.label)
    block = router.block(attempt)
    entry: dict[str, Any] = {"key": attempt.key_id, "state": "ok"}
    if block is not None:
        entry["state"] = f"cooling down ({block.reason})"
        entry["until"] = _iso(block.until)
    rate = stats.success_rate
    entry["success_rate"] = None if rate is None else round(rate, 3)
    entry["recent"] = len(stats.outcomes)
    ttft = stats.median_ttft_ms
    entry["median_ttft_ms"] = None if ttft is None else round(ttft, 1)
    entry["in_flight"] = stats.in_flight
    seen = router.quota.get(attempt.key_id) if not attempt.native else None
    if seen is not None:
        entry["quota"] = _quota(seen)
    return entry


def _quota(seen: Any) -> dict[str, Any]:
    return {
        "window": seen.window,
        "utilization": round(seen.utilization, 4),
        "reset": None if seen.reset is None else _iso(seen.reset),
        "rejected": seen.rejected,
        "headers": seen.headers,
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
