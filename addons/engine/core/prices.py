"""Model prices and context windows, from LiteLLM's maintained map.

``engine/data/prices.json`` is a trimmed snapshot of LiteLLM's
``model_prices_and_context_window.json`` (MIT, (c) Berri AI; the source and
date are inside the file). ``scripts/refresh_prices.py`` rebuilds it with
:func:`build_snapshot`. Prices are kept per million tokens, per token class:

- ``input``: fresh input (without cache reads or writes)
- ``cache_read`` / ``cache_write``: cached input read / written
  (``cache_write_1h``: Anthropic's one-hour cache writes, a part of
  ``cache_write`` priced higher than the 5-minute ones)
- ``output``: output tokens, reasoning included (``reasoning`` when the model
  prices those apart)

Long-context tiers (LiteLLM's ``*_above_<N>k_tokens`` fields, or its
``tiered_pricing`` table) are all kept: the prompt (input with the cache) picks
the highest threshold it exceeds, and every token of the request is priced at
that tier's rates.

config.yaml overrides them per provider (``price:``) or per model
(``prices: {model: ...}``); :func:`cost` uses each class at its own rate.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from omniroute_mitm.translators.canonical import Usage

SNAPSHOT = Path(__file__).resolve().parent / "data" / "prices.json"

# LiteLLM's provider names kept in the snapshot (the hosts people route to).
PROVIDERS = (
    "anthropic", "openai", "gemini", "vertex_ai-language-models", "deepseek", "xai",
    "mistral", "groq", "cerebras", "openrouter", "together_ai", "fireworks_ai", "moonshot",
    "zai", "dashscope", "perplexity", "deepinfra", "chatgpt",
)  # fmt: skip

# Which LiteLLM provider a base URL's host is.
HOSTS = {
    "api.anthropic.com": "anthropic",
    "api.openai.com": "openai",
    "chatgpt.com": "openai",
    "generativelanguage.googleapis.com": "gemini",
    "cloudcode-pa.googleapis.com": "gemini",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "xai",
    "api.mistral.ai": "mistral",
    "api.groq.com": "groq",
    "api.cerebras.ai": "cerebras",
    "openrouter.ai": "openrouter",
    "api.together.xyz": "together_ai",
    "api.fireworks.ai": "fireworks_ai",
    "api.moonshot.ai": "moonshot",
    "api.z.ai": "zai",
    "api.perplexity.ai": "perplexity",
    "api.deepinfra.com": "deepinfra",
    "dashscope-intl.aliyuncs.com": "dashscope",
    "dashscope.aliyuncs.com": "dashscope",
}
# When the provider is unknown, a bare model name is looked up among these.
FIRST_PARTY = ("anthropic", "openai", "gemini", "vertex_ai-language-models", "deepseek", "xai",
               "mistral")  # fmt: skip
CLASSES = ("input", "output", "cache_read", "cache_write", "reasoning", "cache_write_1h")
_FIELDS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "reasoning": "output_cost_per_reasoning_token",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
}
_TIER = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")
# LiteLLM bills these providers' higher tier from the threshold on (>=), the
# others above it (>); the snapshot stores every threshold as "above N".
_INCLUSIVE = frozenset({"xai"})


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens of each class (None: not priced apart)."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    cache_write_1h: float | None = None
    """One-hour cache writes (None: the ``cache_write`` rate)."""
    tiers: tuple[tuple[int, Price], ...] = ()
    """Long-context pricing: (prompt tokens above which the rates apply, the
    rates), lowest threshold first."""
    search: float | None = None
    """US dollars per 1,000 server-side web searches (None: not priced)."""
    search_per_request: bool = False
    """The search fee is charged once per request that searched (Gemini 2.x
    grounding: per grounded prompt), not per search."""

    def for_prompt(self, prompt: int) -> Price:
        """The rates of the highest tier whose threshold ``prompt`` exceeds."""
        for above, rates in reversed(self.tiers):
            if prompt > above:
                return rates
        return self


@dataclass(frozen=True, slots=True)
class ModelInfo:
    price: Price | None
    context_window: int | None
    max_output: int | None


@dataclass(frozen=True, slots=True)
class Tokens:
    """One request's tokens in the store's meaning (classes do not overlap,
    except reasoning, which is part of output)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    cache_write_1h: int = 0
    """The part of ``cache_write`` cached for one hour (Anthropic)."""
    searches: int = 0
    """Server-side web searches the provider ran (billed per search)."""


def tokens_of(usage: Usage) -> Tokens:
    """Canonical usage -> the store's non-overlapping classes."""
    cached = usage.cache_read_tokens + usage.cache_creation_tokens
    return Tokens(
        input=max(0, usage.input_tokens - cached),
        output=usage.output_tokens,
        cache_read=usage.cache_read_tokens,
        cache_write=usage.cache_creation_tokens,
        reasoning=min(usage.reasoning_tokens, usage.output_tokens),
        cache_write_1h=min(usage.cache_creation_1h_tokens, usage.cache_creation_tokens),
        searches=usage.web_search_requests,
    )


def cost(price: Price, tokens: Tokens) -> float:
    """Dollars; cache reads and writes fall back to the input rate (one-hour
    writes to the cache write rate), reasoning to the output rate, when the
    model does not price them apart."""
    price = price.for_prompt(tokens.input + tokens.cache_read + tokens.cache_write)
    reasoning_rate = price.output if price.reasoning is None else price.reasoning
    write_rate = _or(price.cache_write, price.input)
    hour = min(tokens.cache_write_1h, tokens.cache_write)
    dollars = (
        tokens.input * price.input
        + tokens.cache_read * _or(price.cache_read, price.input)
        + (tokens.cache_write - hour) * write_rate
        + hour * _or(price.cache_write_1h, write_rate)
        + (tokens.output - tokens.reasoning) * price.output
        + tokens.reasoning * reasoning_rate
    )
    return dollars / 1_000_000 + search_cost(price, tokens.searches)


def search_cost(price: Price, searches: int) -> float:
    if not searches or not price.search:
        return 0.0
    return price.search / 1000 * (1 if price.search_per_request else searches)


SEARCH_FEES: dict[str, float] = {
    "anthropic": 10.0,  # $10 per 1,000 searches (server_tool_use.web_search_requests)
    "openai": 10.0,  # Responses web_search: $10 per 1,000 calls (the preview tool
    # on non-reasoning models is $25; the call does not say which model tier)
    "gemini": 14.0,  # Gemini 3: $14 per 1,000 search queries
}
"""Per-search fees by LiteLLM provider; the snapshot has none (LiteLLM keeps
them outside its token prices). config.yaml's ``search`` overrides them."""
GEMINI_2_GROUNDING = 35.0
"""Gemini 2.x: $35 per 1,000 grounded prompts (once per request)."""


def with_search_fee(price: Price, provider: str | None, model: str) -> Price:
    """``price`` with the provider's per-search fee when it has none."""
    if price.search is not None:
        return price
    family = provider or ("gemini" if "gemini" in model else None)
    if family in ("gemini", "vertex_ai-language-models"):
        if re.search(r"gemini-(1|2)[.-]", model):
            return replace(price, search=GEMINI_2_GROUNDING, search_per_request=True)
        return replace(price, search=SEARCH_FEES["gemini"])
    fee = SEARCH_FEES.get(family or "")
    if fee is None and family is None:
        fee = SEARCH_FEES["anthropic"] if model.startswith("claude") else None
    return replace(price, search=fee) if fee is not None else price


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


# --------------------------------------------------------------------- lookup


@cache
def snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def lookup(
    provider: str | None, model: str, data: dict[str, Any] | None = None
) -> ModelInfo | None:
    """The snapshot's entry for ``model`` at LiteLLM provider ``provider``
    (None: the first-party providers), trying a few spellings."""
    models: dict[str, dict[str, Any]] = (data or snapshot())["models"]
    providers = (provider,) if provider else FIRST_PARTY
    names = _spellings(model)
    for name in names:
        for prov in providers:
            entry = models.get(f"{prov}/{name}")
            if entry is not None:
                info = _info(entry)
                if info.price is None:
                    return info
                return replace(info, price=with_search_fee(info.price, prov, name))
    return None


def _spellings(model: str) -> list[str]:
    """``models/gemini-2.5-pro`` -> ``gemini-2.5-pro``; a dated name falls
    back to its alias (``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``)."""
    name = model.removeprefix("models/").strip()
    out = [name]
    undated = re.sub(r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "", name)
    if undated != name:
        out.append(undated)
    if "/" in name:  # openrouter-style vendor/model asked of a first party
        out.append(name.split("/", 1)[1])
    return out


def _info(entry: dict[str, Any]) -> ModelInfo:
    price = _price(entry["price"]) if entry.get("price") else None
    return ModelInfo(price, entry.get("context"), entry.get("max_output"))


def _price(raw: dict[str, Any]) -> Price:
    return Price(
        input=raw.get("input", 0.0),
        output=raw.get("output", 0.0),
        cache_read=raw.get("cache_read"),
        cache_write=raw.get("cache_write"),
        reasoning=raw.get("reasoning"),
        cache_write_1h=raw.get("cache_write_1h"),
        tiers=tuple((t["above"], _price(t)) for t in raw.get("tiers", ())),
    )


def provider_for_url(url: str | None) -> str | None:
    if not url:
        return None
    host = re.sub(r"^https?://", "", url).split("/", 1)[0].split(":", 1)[0].lower()
    return HOSTS.get(host)


# ------------------------------------------------------------------- snapshot


def build_snapshot(raw: dict[str, Any], source: str, date: str) -> dict[str, Any]:
    """LiteLLM's map -> the snapshot: chat models of :data:`PROVIDERS`, the
    fields we use, prices per million tokens, keyed ``provider/model``."""
    models: dict[str, dict[str, Any]] = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or entry.get("mode") not in ("chat", "responses"):
            continue
        provider = entry.get("litellm_provider")
        if provider not in PROVIDERS:
            continue
        name = key.split("/", 1)[1] if key.startswith(f"{provider}/") else key
        slim = _slim(entry, inclusive=provider in _INCLUSIVE)
        if slim:
            models.setdefault(f"{provider}/{name}", slim)
    return {
        "_source": source,
        "_date": date,
        "_license": "MIT, Copyright (c) 2023 Berri AI (LiteLLM); data only",
        "_units": "US dollars per million tokens",
        "models": dict(sorted(models.items())),
    }


def _slim(entry: dict[str, Any], inclusive: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    price = _table_price(entry) or _threshold_price(entry, inclusive)
    if price:
        out["price"] = price
    for ours, theirs in (("context", "max_input_tokens"), ("max_output", "max_output_tokens")):
        if isinstance(entry.get(theirs), int):
            out[ours] = entry[theirs]
    return out


def _per_million(entry: dict[str, Any], suffix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ours, theirs in _FIELDS.items():
        value = entry.get(theirs + suffix)
        if isinstance(value, int | float):
            out[ours] = round(value * 1_000_000, 6)
    return out


def _threshold_price(entry: dict[str, Any], inclusive: bool) -> dict[str, Any]:
    """Flat rates, and a tier per ``input_cost_per_token_above_<N>k_tokens``:
    its ``*_above_<N>k_tokens`` rates, the flat ones where it has none."""
    price = _per_million(entry, "")
    if not price:
        return price
    tiers = []
    for k in sorted(int(m.group(1)) for name in entry if (m := _TIER.match(name))):
        above = k * 1000 - 1 if inclusive else k * 1000
        tiers.append({"above": above, **price, **_per_million(entry, f"_above_{k}k_tokens")})
    if tiers:
        price["tiers"] = tiers
    return price


def _table_price(entry: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's ``tiered_pricing`` (Alibaba's Qwen models): ranges of prompt
    tokens, ``start < prompt <= end``, all or nothing; above the last range
    the last one applies. A tier's missing class falls back to its input
    rate, except output: the model's own output rate."""
    table = entry.get("tiered_pricing")
    if not isinstance(table, list):
        return {}
    ranges = [t for t in table if isinstance(t, dict) and _range_start(t) is not None]
    ranges = [t for t in ranges if "input_cost_per_token" in t]
    ranges.sort(key=lambda t: _range_start(t) or 0)
    flat = _per_million(entry, "")
    levels = []
    for tier in ranges:
        rates = _per_million(tier, "")
        if "output" not in rates and "output" in flat:
            rates["output"] = flat["output"]
        levels.append({"above": _range_start(tier), **rates})
    if not levels:
        return {}
    base = {k: v for k, v in levels[0].items() if k != "above"}
    if levels[1:]:
        base["tiers"] = levels[1:]
    return base


def _range_start(tier: dict[str, Any]) -> int | None:
    span = tier.get("range")
    if isinstance(span, list) and len(span) == 2 and isinstance(span[0], int | float):
        return int(span[0])
    return None


@cache
def model_info(base_url: str | None, model: str) -> ModelInfo | None:
    """What the snapshot knows of ``model`` at a provider's base URL (an
    unknown host: the first-party providers' names). Cached per pair."""
    return lookup(provider_for_url(base_url), model)


def context_window(base_url: str | None, model: str | None) -> int | None:
    """For the router's context-fit when the config names no window."""
    info = model_info(base_url, model) if model else None
    return info.context_window if info is not None else None


def max_output(base_url: str | None, model: str | None) -> int | None:
    """For the max_tokens cap when the config sets none."""
    info = model_info(base_url, model) if model else None
    return info.max_output if info is not None else None
