"""The usage store: one row per request, tokens in one meaning, cost.

:class:`UsageLog` turns each closed :class:`Record` into a row of the table
``requests`` (written by the store's writer thread, off the hot path).

Token classes in a row do not overlap: ``input_tokens`` is fresh input
(without cache), ``cache_read_tokens`` and ``cache_write_tokens`` the cached
input read and written (``cache_write_1h_tokens``: the part of the writes
Anthropic caches for an hour, priced higher), ``output_tokens`` all output
including ``reasoning_tokens``. The canonical :class:`translators.canonical.Usage`
counts input with the cache in it (OpenAI's and Gemini's arithmetic), so
:func:`tokens_of` subtracts it; Anthropic's decoder already added it in.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from omniroute_mitm.engine.core import prices, quota
from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.database import Store
from omniroute_mitm.engine.core.inbound import Inbound, key_id
from omniroute_mitm.engine.core.inbound import client_app as client_app  # (moved to core)
from omniroute_mitm.engine.core.prices import tokens_of
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.route.plan import Attempt
from omniroute_mitm.translators.canonical import Usage

log = logging.getLogger(__name__)

V1 = """
CREATE TABLE requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    client_format TEXT NOT NULL,
    client_app TEXT NOT NULL,
    kind TEXT NOT NULL,
    stream INTEGER NOT NULL,
    requested_model TEXT NOT NULL,
    route TEXT NOT NULL,
    target TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    fallbacks TEXT NOT NULL,
    provider TEXT NOT NULL,
    upstream_model TEXT NOT NULL,
    key_id TEXT NOT NULL,
    native INTEGER NOT NULL,
    status INTEGER NOT NULL,
    error_class TEXT,
    error TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    ttft_ms REAL,
    total_ms REAL,
    cost REAL
);
CREATE INDEX requests_time ON requests (time)
"""
V2 = """
ALTER TABLE requests ADD COLUMN quota_window TEXT;
ALTER TABLE requests ADD COLUMN quota_used REAL;
ALTER TABLE requests ADD COLUMN quota_reset REAL;
ALTER TABLE requests ADD COLUMN quota_headers TEXT
"""
V3 = """
ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0
"""
V4 = """
ALTER TABLE requests ADD COLUMN client_endpoint TEXT
"""
V5 = """
ALTER TABLE requests ADD COLUMN "user" TEXT;
ALTER TABLE requests ADD COLUMN "group" TEXT
"""
"""The proxy user (mitmproxy's proxyauth) and their group (config.yaml's
``users:``); quoted: both are SQL keywords."""
V6 = """
ALTER TABLE requests ADD COLUMN web_searches INTEGER NOT NULL DEFAULT 0
"""
"""Searches a request made (web search run by its provider or by the engine)."""
MIGRATIONS = [V1, V2, V3, V4, V5, V6]
"""Append only: a shipped migration never changes."""

COLUMNS = (
    "time", "client_format", "client_app", "kind", "stream", "requested_model", "route",
    "target", "attempt", "fallbacks", "provider", "upstream_model", "key_id", "native",
    "status", "error_class", "error", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "estimated", "ttft_ms", "total_ms", "cost",
    "quota_window", "quota_used", "quota_reset", "quota_headers", "cache_write_1h_tokens",
    "client_endpoint", "user", "group", "web_searches",
)  # fmt: skip
_QUOTED = ", ".join(f'"{c}"' for c in COLUMNS)
INSERT = f"INSERT INTO requests ({_QUOTED}) VALUES ({', '.join('?' * len(COLUMNS))})"

KEY_HEADERS = {"bearer": "authorization", "x-api-key": "x-api-key", "api-key": "api-key",
               "x-goog-api-key": "x-goog-api-key"}  # fmt: skip


def credential(inbound: Inbound, style: str | None = None) -> str | None:
    """The credential a client sent to its native endpoint (to hash it):
    the header its endpoint takes the key in (``style``) first."""
    names = ["x-api-key", "x-goog-api-key", "authorization", "api-key"]
    if style in KEY_HEADERS:
        names.insert(0, KEY_HEADERS[style])
    for name in names:
        if value := inbound.header(name):
            return value
    return None


_PRICED: dict[int, tuple[Config, dict[tuple[str, str], prices.Price | None]]] = {}
"""price_for's answers per config (a config is never changed once loaded)."""


def price_for(config: Config, provider: str, model: str) -> prices.Price | None:
    """config.yaml's override (per model, then per provider), else the
    snapshot; looked up once per config, provider and model."""
    cached = _PRICED.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_PRICED) > 8:  # configs replaced by reloads
            _PRICED.clear()
        cached = _PRICED[id(config)] = (config, {})
    answers = cached[1]
    if (provider, model) not in answers:
        if len(answers) > 10_000:  # model names are the client's: keep it bounded
            answers.clear()
        answers[provider, model] = _price_for(config, provider, model)
    return answers[provider, model]


def _price_for(config: Config, provider: str, model: str) -> prices.Price | None:
    if provider.startswith("native/"):
        info = prices.lookup(provider.removeprefix("native/"), model)
    elif provider in config.providers:
        settings = config.providers[provider]
        override = settings.prices.get(model) or settings.price
        if override is not None:
            family = prices.provider_for_url(settings.base_url)
            return prices.with_search_fee(prices.Price(**override.model_dump()), family, model)
        info = prices.lookup(prices.provider_for_url(settings.base_url), model)
    else:
        return None
    return info.price if info is not None else None


class UsageLog:
    """Writes closed records to the store; the config gives price overrides."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("usage", MIGRATIONS)

    def add(self, record: Record, config: Config) -> None:
        if record.kind != "generate":
            return  # count_tokens and model lists are not usage
        price_record(record, config)
        try:
            self.store.write(INSERT, row(record))
        except Exception as exc:  # the store must never break a request
            log.error("usage: cannot queue a row: %s", exc)

    def close(self) -> None:
        self.store.close()


def price_record(record: Record, config: Config) -> None:
    if record.tokens is None or record.cost is not None:
        return
    price = price_for(config, record.provider, record.upstream_model or record.model)
    if price is not None:
        record.cost = round(prices.cost(price, record.tokens), 8)


def row(record: Record) -> tuple[Any, ...]:
    t = record.tokens or prices.Tokens()
    q = record.quota
    return (
        record.wall, record.client, record.client_app, record.kind, int(record.stream),
        record.model, record.route, record.target, len(record.attempts),
        ", ".join(record.failures), record.provider, record.upstream_model, record.key_id,
        int(record.provider == "native" or record.native), record.status, record.error_class,
        (record.error or "")[:300] or None, t.input, t.output, t.cache_read, t.cache_write,
        t.reasoning, int(record.estimated), record.first_byte_ms, record.duration_ms,
        record.cost,
        q.window if q else None, q.utilization if q else None,
        q.reset if q else None, _headers(q.headers) if q else None, t.cache_write_1h,
        record.endpoint or None, record.user, record.group, t.searches,
    )  # fmt: skip


def _headers(headers: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in sorted(headers.items()))


def now() -> float:
    return time.time()


def answered(
    record: Record,
    attempt: Attempt,
    usage: Usage | None,
    headers: Iterable[tuple[str, str]],
    *,
    chars: int,
    credential: str | None,
    native_url: str | None,
    estimate_input: Callable[[], int],
) -> None:
    """Fill ``record`` from the attempt that answered."""
    if attempt.native:
        record.native = True
        record.provider = f"native/{prices.provider_for_url(native_url) or 'unknown'}"
        record.upstream_model = record.model
        record.key_id = key_id(credential)
    else:
        record.provider = attempt.provider_name or ""
        record.upstream_model = attempt.model or ""
        record.key_id = key_id(attempt.key.get_secret_value() if attempt.key else None)
    record.quota = quota.parse(headers, time.time())
    if usage is not None:
        record.input_tokens, record.output_tokens = usage.input_tokens, usage.output_tokens
        record.tokens = tokens_of(usage)
    if record.tokens is None or (record.tokens.output == 0 and chars > 0):
        record.estimated = True
        base = record.tokens or prices.Tokens(input=estimate_input())
        record.tokens = dataclasses.replace(base, output=max(base.output, chars // 4))


def cut_short(
    record: Record,
    attempt: Attempt,
    usage: Usage | None,
    *,
    chars: int,
    credential: str | None,
    native_url: str | None,
    estimate_input: Callable[[], int],
) -> None:
    """Fill ``record`` for a request the client left after it reached
    ``attempt``: the provider read the whole input and wrote ``chars`` of
    content so far. Always an estimate (the provider's count, if any, is
    not final): its input count when it gave one, else the estimate."""
    answered(
        record, attempt, usage, (),
        chars=chars, credential=credential, native_url=native_url, estimate_input=estimate_input,
    )  # fmt: skip
    tokens = record.tokens or prices.Tokens()
    if tokens.input + tokens.cache_read + tokens.cache_write == 0:
        tokens = dataclasses.replace(tokens, input=estimate_input())
    record.tokens = dataclasses.replace(tokens, output=max(tokens.output, (chars + 3) // 4))
    record.estimated = True
