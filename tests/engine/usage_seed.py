"""A seeded usage store: rows as the engine writes them, over several days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from omniroute_mitm.engine.core.database import open_store
from omniroute_mitm.engine.core.prices import Tokens
from omniroute_mitm.engine.core.quota import Quota
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.record.usage import INSERT, UsageLog, row

DAYS = ("2026-11-28", "2026-11-29", "2026-11-30")


def record(n: int, when: float, provider: str, model: str, app: str, **kw) -> Record:
    r = Record(n, "anthropic", "generate", model=model, target=kw.pop("target", "smart"))
    r.wall, r.provider, r.upstream_model, r.client_app = when, provider, model, app
    r.attempts = kw.pop("attempts", [f"{provider}/{model}"])
    r.key_id, r.status, r.stream = "3f2a9c01be", kw.pop("status", 200), True
    r.first_byte_ms, r.duration_ms = kw.pop("ttft", 400.0), 2500.0
    r.tokens = kw.pop("tokens", Tokens(1000, 200, 3000, 0, 50))
    r.cost = kw.pop("cost", 0.01)
    for name, value in kw.items():
        setattr(r, name, value)
    return r


def seed(base: Path, url: str = "sqlite:///omniroute.sqlite") -> Path:
    """24 rows: 3 days x (ds 4 + gem 3 + native 1); one error, one fallback a day."""
    log = UsageLog(open_store(url, base=base))
    n = 0
    for day in DAYS:
        start = dt.datetime.fromisoformat(day + "T09:00").timestamp()
        for i in range(4):
            n += 1
            log.store.write(INSERT, row(record(n, start + i * 60, "ds", "deepseek-chat",
                                               "claude-cli", ttft=300.0 + 100 * i)))
        for i in range(3):
            n += 1
            extra = {"failures": ["ds/deepseek-chat: 429"],
                     "attempts": ["ds/deepseek-chat", "gem/gemini-2.5-flash"]} if i == 0 else {}
            if i == 1:
                extra = {"status": 502, "error": "upstream broke", "tokens": None, "cost": None}
            extra = {"cost": 0.02, **extra}
            log.store.write(INSERT, row(record(n, start + 600 + i, "gem", "gemini-2.5-flash",
                                               "codex", **extra)))
        n += 1
        quota = Quota(0.42, start + 5 * 3600, False, "unified-5h",
                      {"anthropic-ratelimit-unified-5h-utilization": "0.42"})
        log.store.write(INSERT, row(record(n, start + 900, "native/anthropic",
                                           "claude-sonnet-4-5", "claude-cli", native=True,
                                           quota=quota, target="native", cost=0.5)))
    log.close()
    return base / "omniroute.sqlite"
