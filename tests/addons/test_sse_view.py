"""The model-stream content view, through mitmproxy's own contentview
machinery (prettify_message with tflow), on recorded streams of each format
and Gemini's JSON-array streams (streamGenerateContent without alt=sse)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fakeprovider import Reply, Usage
from fakeprovider.common import Ctx
from fakeprovider.gemini import array_events
from mitmproxy import contentviews, http
from mitmproxy.test import taddons, tflow, tutils
from omniroute_mitm.engine.core import endpoints
from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.front.sse_view import ModelStreamView

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "translators"))
from shared_fixtures import FIXTURES  # noqa: E402

URLS = {
    "anthropic": "https://api.anthropic.com/v1/messages",
    "openai-chat": "https://api.openai.com/v1/chat/completions",
    "openai-responses": "https://api.openai.com/v1/responses",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/models/g:streamGenerateContent?alt=sse",
}


@pytest.fixture(scope="module", autouse=True)
def registered():
    contentviews.add(ModelStreamView())


def shown(
    url: str, body: bytes, content_type: str = "text/event-stream; charset=utf-8"
) -> contentviews.ContentviewResult:
    req = http.Request.make("POST", url, b"{}", {"content-type": "application/json"})
    resp = tutils.tresp(content=body)
    resp.headers["content-type"] = content_type
    flow = tflow.tflow(req=req, resp=resp)
    with taddons.context():
        return contentviews.prettify_message(flow.response, flow)  # "auto": by priority


def fixture(path: str) -> bytes:
    file = FIXTURES / path
    if not file.exists():
        pytest.skip("../shared/fixtures not present")
    return file.read_bytes()


@pytest.mark.parametrize(
    ("fmt", "path", "expect"),
    [
        ("anthropic", "anthropic/stream-thinking-then-tool-use.sse",
         ["[reasoning]", "[tool call]"]),
        ("anthropic", "anthropic/stream-text-then-tool-use-parallel.sse",
         ["[text]", "[tool call] get_weather", "[tool call] get_time", "stop: tool_use"]),
        ("openai-chat", "openai-chat/stream-tool-calls-parallel.sse",
         ["[tool call]", "usage: "]),
        ("openai-chat", "openai-chat/stream-text-include-usage.sse", ["[text]", "stop: stop"]),
        ("openai-responses", "openai-responses/stream-reasoning-then-function-call.sse",
         ["[reasoning]", "[tool call]"]),
        ("openai-responses", "openai-responses/stream-text.sse", ["[text]", "usage: "]),
        ("gemini", "gemini/stream-thinking-thought-parts.sse", ["[reasoning]", "[text]"]),
        ("gemini", "gemini/stream-function-calls-parallel.sse", ["[tool call]", "stop: tool_use"]),
    ],
)  # fmt: skip
def test_recorded_streams_are_listed_and_assembled(fmt, path, expect):
    result = shown(URLS[fmt], fixture(path))
    assert result.view_name == "Model stream"
    head, _, answer = result.text.partition("--- assembled ---")
    assert head.startswith(f"{head.split()[0]} events ({fmt})") and int(head.split()[0]) >= 1
    for needle in expect:
        assert needle in answer, (needle, result.text)


def test_the_format_is_sniffed_without_a_known_endpoint():
    body = fixture("anthropic/stream-text.sse")
    result = shown("https://example.com/somewhere", body)
    assert "(anthropic)" in result.text.splitlines()[0] and "[text]" in result.text


# a chat stream without the "object": "chat.completion.chunk" marker (vendors
# leave it out): only the endpoint tells its format
BARE_CHAT = (b'data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant",'
             b'"content":"Hi there"}}]}\n\n'
             b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
             b"data: [DONE]\n\n")  # fmt: skip
CONFIG_HOST = "https://llm.internal.example/v2/chat/completions"


def test_a_catalogued_vendors_stream_is_assembled_by_its_endpoints_format():
    result = shown("https://api.deepseek.com/chat/completions", BARE_CHAT)
    assert result.text.splitlines()[0] == "3 events (openai-chat)"
    assert "[text]\nHi there\nstop: stop" in result.text


def test_a_host_added_by_config_endpoints_is_known_to_the_view():
    assert "(openai-chat)" not in shown(CONFIG_HOST, BARE_CHAT).text  # not catalogued: sniffed
    config = parse_config(
        "endpoints:\n  - {host: llm.internal.example, paths: [/v2/chat/completions],"
        " format: openai-chat, key: bearer, vendor: internal}\n", env={})  # fmt: skip
    contentviews.add(ModelStreamView(lambda: endpoints.catalog(config)))  # as the front does
    try:
        result = shown(CONFIG_HOST, BARE_CHAT)
    finally:
        contentviews.add(ModelStreamView())
    assert result.text.splitlines()[0] == "3 events (openai-chat)"
    assert "[text]\nHi there" in result.text


def test_long_events_are_cut_and_json_bodies_keep_their_view():
    long = b'data: {"type":"response.output_text.delta","delta":"' + b"x" * 500 + b'"}\n\n'
    result = shown(URLS["openai-responses"], long)
    event_line = result.text.splitlines()[1]
    assert len(event_line) == 160 and event_line.endswith("…")
    req = http.Request.make("POST", URLS["anthropic"], b"{}")
    flow = tflow.tflow(req=req, resp=tutils.tresp(content=b'{"a": 1}'))
    flow.response.headers["content-type"] = "application/json"
    with taddons.context():
        assert contentviews.prettify_message(flow.response, flow).view_name != "Model stream"


GEMINI_ARRAY = "https://generativelanguage.googleapis.com/v1beta/models/g:streamGenerateContent"
JSON = "application/json; charset=UTF-8"


def test_a_recorded_gemini_json_array_stream_is_listed_and_assembled():
    """simonw/llm-gemini's recording: three chunks, thought parts then text."""
    result = shown(GEMINI_ARRAY, fixture("gemini/stream-no-sse-json-array.json"), JSON)
    assert result.view_name == "Model stream"
    head, _, answer = result.text.partition("--- assembled ---")
    lines = head.strip().splitlines()
    assert lines[0] == "3 events (gemini, JSON array)"
    assert [line.split()[0] for line in lines[1:]] == ["chunk"] * 3
    assert all(len(line) <= 160 for line in lines[1:]) and '{"candidates":' in lines[1]
    for needle in ("[reasoning]", "**Considering the Constraint**", "[text]", "stop: stop"):
        assert needle in answer, (needle, result.text)
    assert "usage: " in answer


def _generated() -> bytes:
    reply = Reply(reasoning="Paris it is.", text="Looking it up now",
                  tool_calls=[("get_weather", {"city": "Paris", "days": 3})],
                  usage=Usage(input=120, output=45, cached=20, reasoning=5))  # fmt: skip
    return b"".join(array_events(reply, Ctx("gemini-2.5-flash")))


def test_a_generated_gemini_json_array_stream_with_a_tool_call():
    body = _generated()
    result = shown(GEMINI_ARRAY, body, JSON)
    head, _, answer = result.text.partition("--- assembled ---")
    count = body.count(b'"candidates"')
    assert head.startswith(f"{count} events (gemini, JSON array)") and count >= 3
    assert answer.index("[reasoning]") < answer.index("[text]") < answer.index("[tool call]")
    assert "Paris it is." in answer and "Looking it up now" in answer
    assert "[tool call] get_weather" in answer and '"days": 3' in answer
    assert "stop: tool_use" in answer
    assert "usage: 100 in + 20 cache read + 0 cache write / 45 out (5 reasoning)" in answer
    # without a known endpoint the array is told by its chunks
    assert shown("https://example.com/x", body, JSON).view_name == "Model stream"


def test_a_cut_json_array_lists_its_whole_chunks():
    body = _generated()
    cut = body[: body.rindex(b'"candidates"')]  # the last chunk never arrived whole
    whole = cut.count(b'"candidates"')
    result = shown(GEMINI_ARRAY, cut, JSON)
    assert result.text.startswith(f"{whole} events (gemini, JSON array)") and whole >= 2
    assert "[reasoning]" in result.text


def test_other_gemini_json_keeps_the_json_view():
    error = b'{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}'
    generate = GEMINI_ARRAY.replace("streamGenerateContent", "generateContent")
    for url, body in ((GEMINI_ARRAY, error), (generate, b'{"candidates": []}'),
                      ("https://example.com/x", b'[{"a": 1}]')):  # fmt: skip
        assert shown(url, body, JSON).view_name != "Model stream", (url, body)
