"""Model prices and context windows, from LiteLLM's maintained map.

``engine/data/prices.json`` is a trimmed snapshot of LiteLLM's
``model_prices_and_context_window.json`` (MIT, (c) Berri AI; the source and
date are inside the file). ``scripts/refresh_prices.py`` rebuilds it with
:func:`build_snapshot`. Prices are kept per million tokens, per token class:

- ``input``: fresh input (without cache reads or writes)
- ``cache_read`` / ``cache_write``: cached input read / written
- ``output``: output tokens, reasoning included (``reasoning`` when the model
  prices those apart)

config.yaml overrides them per provider (``price:``) or per model
(``prices: {model: ...}``); :func:`cost` uses each class at its own rate.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

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
}
# When the provider is unknown, a bare model name is looked up among these.
FIRST_PARTY = ("anthropic", "openai", "gemini", "vertex_ai-language-models", "deepseek", "xai",
               "mistral")  # fmt: skip
CLASSES = ("input", "output", "cache_read", "cache_write", "reasoning")
_FIELDS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "reasoning": "output_cost_per_reasoning_token",
}
_TIER = re.compile(r"^(.+)_above_(\d+)k_tokens$")


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens of each class (None: not priced apart)."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    above: int | None = None
    """Prompt size (tokens) above which ``tier`` applies (long-context pricing)."""
    tier: Price | None = None


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


def cost(price: Price, tokens: Tokens) -> float:
    """Dollars; cache reads and writes fall back to the input rate, reasoning
    to the output rate, when the model does not price them apart."""
    prompt = tokens.input + tokens.cache_read + tokens.cache_write
    if price.tier is not None and price.above is not None and prompt > price.above:
        price = price.tier
    reasoning_rate = price.output if price.reasoning is None else price.reasoning
    dollars = (
        tokens.input * price.input
        + tokens.cache_read * _or(price.cache_read, price.input)
        + tokens.cache_write * _or(price.cache_write, price.input)
        + (tokens.output - tokens.reasoning) * price.output
        + tokens.reasoning * reasoning_rate
    )
    return dollars / 1_000_000


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
                return _info(entry)
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
    tier = raw.get("tier")
    return Price(
        input=raw.get("input", 0.0),
        output=raw.get("output", 0.0),
        cache_read=raw.get("cache_read"),
        cache_write=raw.get("cache_write"),
        reasoning=raw.get("reasoning"),
        above=raw.get("above"),
        tier=_price(tier) if tier else None,
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
        slim = _slim(entry)
        if slim:
            models.setdefault(f"{provider}/{name}", slim)
    return {
        "_source": source,
        "_date": date,
        "_license": "MIT, Copyright (c) 2023 Berri AI (LiteLLM); data only",
        "_units": "US dollars per million tokens",
        "models": dict(sorted(models.items())),
    }


def _slim(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    price = _per_million(entry, "")
    if price:
        tier = _lowest_tier(entry)
        if tier is not None:
            above, suffix = tier
            price["above"] = above
            price["tier"] = {**price, **_per_million(entry, suffix)}
            price["tier"].pop("above", None)
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


def _lowest_tier(entry: dict[str, Any]) -> tuple[int, str] | None:
    """(threshold, field suffix) of the smallest long-context tier."""
    tiers = sorted(
        int(m.group(2))
        for name in entry
        if (m := _TIER.match(name)) and m.group(1) == "input_cost_per_token"
    )
    return (tiers[0] * 1000, f"_above_{tiers[0]}k_tokens") if tiers else None


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
