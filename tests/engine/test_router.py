import json
from textwrap import dedent

import pytest
from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.route.plan import plan

CONFIG = parse_config(
    dedent(
        """
        providers:
          ds:
            format: openai-chat
            base_url: https://api.deepseek.com/v1
            keys: [k1, k2]
            models: [deepseek-chat, deepseek-reasoner]
          gem: {format: gemini, base_url: "https://g/v1beta", keys: [g1]}
          local: {format: openai-chat, base_url: "http://127.0.0.1:1/v1"}
          unused: {format: gemini, base_url: "https://u", keys: ["${NOT_SET}"]}
        combos:
          smart: {targets: [ds/deepseek-chat, gem/gemini-2.5-flash, native]}
          cheap: {targets: [local/qwen]}
        routes:
          - match: {client: anthropic, model: "claude-*-haiku*"}
            to: cheap
          - match: {client: anthropic, model: "claude-*"}
            to: smart
          - match: {client: openai-responses}
            to: ds/deepseek-reasoner
          - match: {model: "gpt-4o*", host: "API.openai.com"}
            to: gem/gemini-2.5-pro
          - match: {client: gemini, model: "gemini-*-lite"}
            to: native
        """
    ),
    env={},
)

TABLE = [
    # client, model, host, target, attempt labels
    (
        "anthropic",
        "claude-sonnet-4",
        "api.anthropic.com",
        "smart",
        ["ds/deepseek-chat", "ds/deepseek-chat#2", "gem/gemini-2.5-flash", "native"],
    ),
    ("anthropic", "claude-3-5-haiku-latest", None, "cheap", ["local/qwen"]),
    (
        "anthropic",
        "claude-sonnet-4",
        None,
        "smart",
        ["ds/deepseek-chat", "ds/deepseek-chat#2", "gem/gemini-2.5-flash", "native"],
    ),
    (
        "openai-responses",
        "gpt-5",
        "chatgpt.com",
        "ds/deepseek-reasoner",
        ["ds/deepseek-reasoner", "ds/deepseek-reasoner#2"],
    ),
    ("openai-chat", "gpt-4o-mini", "api.openai.com", "gem/gemini-2.5-pro", ["gem/gemini-2.5-pro"]),
    ("openai-chat", "gpt-4o-mini", None, "native", ["native"]),  # host required by the route
    ("openai-chat", "gpt-4.1", "api.openai.com", "native", ["native"]),
    ("gemini", "gemini-2.5-flash-lite", "generativelanguage.googleapis.com", "native", ["native"]),
    ("gemini", "gemini-2.5-pro", None, "native", ["native"]),
    ("openai-chat", "Claude-sonnet", None, "native", ["native"]),  # globs are case-sensitive
    # a model naming a combo or provider/model directly
    (
        "openai-chat",
        "smart",
        None,
        "smart",
        ["ds/deepseek-chat", "ds/deepseek-chat#2", "gem/gemini-2.5-flash", "native"],
    ),
    ("gemini", "gem/gemini-3-pro", None, "gem/gemini-3-pro", ["gem/gemini-3-pro"]),
    ("openai-chat", "ds/not-allowed", None, "native", ["native"]),
    ("openai-chat", "unused/x", None, "native", ["native"]),  # disabled provider
]


@pytest.mark.parametrize(("client", "model", "host", "target", "labels"), TABLE)
def test_routes(client, model, host, target, labels):
    result = plan(CONFIG, client, model, host)
    assert result.target == target
    assert [a.label for a in result.attempts] == labels


def test_attempts_carry_provider_model_and_each_key():
    attempts = plan(CONFIG, "anthropic", "claude-opus-4", None).attempts
    first, second = attempts[0], attempts[1]
    assert first.provider is CONFIG.providers["ds"] and first.model == "deepseek-chat"
    assert first.key.get_secret_value() == "k1" and second.key.get_secret_value() == "k2"
    assert attempts[-1].native and attempts[-1].provider is None
    assert "k1" not in repr(attempts)


def test_provider_without_keys_is_one_attempt_without_key():
    (attempt,) = plan(CONFIG, "anthropic", "claude-3-haiku", None).attempts
    assert attempt.key is None and not attempt.native


def test_empty_config_routes_everything_native():
    empty = parse_config("", env={})
    assert [a.label for a in plan(empty, "anthropic", "claude-x").attempts] == ["native"]


def test_a_routers_own_measurements_rank_latency_and_show_on_the_status_page(monkeypatch):
    """The router in memory (no shared state) remembers what it measured:
    the faster target first under ``latency``, its numbers on the status page.
    (No exploration: ``latency`` tries a slower target first 10% of the time.)"""
    from omniroute_mitm.engine.route import strategies

    monkeypatch.setattr(strategies, "EXPLORE", 0.0)
    from omniroute_mitm.engine.route.failures import Failure
    from omniroute_mitm.engine.route.router import Router, RouteRequest
    from omniroute_mitm.engine.serve.status import status

    config = parse_config(dedent("""
        providers:
          a: {format: openai-chat, base_url: "http://127.0.0.1:1/v1", keys: [k1]}
          b: {format: openai-chat, base_url: "http://127.0.0.1:2/v1", keys: [k2]}
        combos:
          fast: {strategy: latency, targets: [a/m, b/m]}
        routes:
          - match: {model: "x"}
            to: fast
        """), env={})  # fmt: skip
    router, request = Router(), RouteRequest("openai-chat", "x", None)
    for ttft in (900.0, 40.0, 60.0):
        decision = router.decide(config, request)
        for attempt in decision.attempts:
            router.health.started(attempt.label)
            router.succeeded(decision, attempt, ttft if attempt.label == "b/m" else 300.0)
    decision = router.decide(config, request)
    assert [a.label for a in decision.attempts] == ["b/m", "a/m"]
    router.health.started("a/m")
    router.failed(config, decision, decision.attempts[1], Failure("transient", 500))
    page = json.dumps(status(config, router))
    assert '"median_ttft_ms": 60.0' in page and '"median_ttft_ms": 300.0' in page
    assert '"success_rate": 0.75' in page
