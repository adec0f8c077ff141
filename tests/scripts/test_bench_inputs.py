"""The long-session requests the benchmark sends (scripts/bench_inputs.py)
are what their clients send: valid in their own format, of the size asked,
carrying each vendor's opaque reasoning data."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from omniroute_mitm.translators import get_format

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_inputs.py"
FORMATS = {"claude": "anthropic", "codex": "openai-responses", "gemini": "gemini",
           "chat": "openai-chat"}


def _inputs() -> Any:
    spec = importlib.util.spec_from_file_location("bench_inputs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("client", sorted(FORMATS))
@pytest.mark.parametrize("kb", [100, 500])
def test_long_request_has_the_size_asked_and_parses_in_its_format(client: str, kb: int) -> None:
    body = _inputs().LONG_REQUESTS[client](kb)
    size = len(json.dumps(body)) / 1024
    assert abs(size - kb) <= kb * 0.05, size
    request = get_format(FORMATS[client]).parse_request(body)
    assert len(request.tools) == 9
    assert len(request.messages) > 10  # a long tool loop, not one big message


def test_each_shape_carries_its_vendors_reasoning_data() -> None:
    inputs = _inputs()
    claude = inputs.LONG_REQUESTS["claude"](100)
    assert any(b.get("type") == "thinking" and b.get("signature")
               for m in claude["messages"] if isinstance(m["content"], list)
               for b in m["content"])
    codex = inputs.LONG_REQUESTS["codex"](100)
    assert codex["store"] is False
    assert any(i.get("type") == "reasoning" and i.get("encrypted_content") for i in codex["input"])
    assert any(i.get("type") == "function_call_output" for i in codex["input"])
    gemini = inputs.LONG_REQUESTS["gemini"](100)
    parts = [p for c in gemini["contents"] for p in c["parts"]]
    assert any("functionCall" in p and p.get("thoughtSignature") for p in parts)
    assert any("functionResponse" in p for p in parts)
    chat = inputs.LONG_REQUESTS["chat"](100)
    calls = [m for m in chat["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    assert calls and all(m.get("reasoning_content") for m in calls)  # DeepSeek wants it back
    assert any(m["role"] == "tool" and m.get("tool_call_id") for m in chat["messages"])
    assert chat["messages"][0]["role"] == "system"


def _bench_module(name: str) -> Any:
    import sys

    folder = str(SCRIPT.parent / "bench")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


@pytest.mark.parametrize("client", sorted(FORMATS))
def test_each_long_request_is_the_next_turn_of_one_conversation(client: str) -> None:
    """A long run's requests differ in their last user turn only: the history
    before it the same bytes each time (what an agent resends), never a body
    the engine could remember whole."""
    load, setups = _bench_module("load"), _bench_module("setups")
    body = _inputs().LONG_REQUESTS[client](100)
    turns = load.Turns(load.Target("https://x/v1", {}, body, turn_text=setups.LAST_TURN))
    first, second = turns.next(), turns.next()
    assert first != second and len(first) == len(second)
    same = next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
    assert same > len(first) * 0.5  # the history before it unchanged
    for payload in (first, second):
        parsed = json.loads(payload.split(b"\r\n\r\n", 1)[1])
        text = json.dumps(parsed)
        assert setups.LAST_TURN not in text and "now" in text
        get_format(FORMATS[client]).parse_request(parsed)


def test_each_client_has_a_same_format_and_a_cross_format_route(tmp_path: Path) -> None:
    """The benchmark's same-format path goes to a provider of the client's
    format and its cross-format path to one of another (a Chat client's
    ``bench-cross`` would be the Chat provider: not a translation)."""
    import yaml

    setups = _bench_module("setups")
    env = setups.Env("http://127.0.0.1:1", tmp_path, tmp_path, None, 20)  # type: ignore[arg-type]
    config = yaml.safe_load(setups.omniroute_config(env).read_text())
    routes = {r["match"].get("model"): r["to"] for r in config["routes"]}
    providers = config["providers"]
    assert sorted(setups.CLIENTS) == sorted(FORMATS)
    for name, client in setups.CLIENTS.items():
        assert client.format == FORMATS[name]
        same = routes[client.same_model].split("/")[0]
        cross = routes[client.cross_model].split("/")[0]
        assert providers[same]["format"] == client.format, name
        assert providers[cross]["format"] != client.format, name
        assert same == setups.SAME_PROVIDER[name]


def test_the_bench_provider_sends_chat_usage_only_when_asked() -> None:
    """As the OpenAI API: the usage chunk (``choices: []``) only for a request
    with ``stream_options.include_usage`` (the engine asks for it; without
    it the engine would estimate every request's tokens)."""
    import sys

    bench = SCRIPT.parent / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location("bench_provider", bench / "provider.py")
        assert spec is not None and spec.loader is not None
        provider = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(provider)
    finally:
        sys.path.remove(str(bench))
    streams = provider.Streams(20)

    def usage_chunks(usage: bool) -> int:
        frames = b"".join(streams.frames("openai-chat", "m", usage))
        return frames.count(b'"choices":[]') + frames.count(b'"choices": []')

    assert usage_chunks(True) == 1 and usage_chunks(False) == 0
    for body in (b'{"stream_options":{"include_usage":true}}',
                 b'{"stream": true, "stream_options": {"include_usage": true}}'):  # fmt: skip
        assert provider.USAGE.search(body)
    assert not provider.USAGE.search(b'{"stream_options": {"include_usage": false}}')
