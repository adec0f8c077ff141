"""The model-stream content view, through mitmproxy's own contentview
machinery (prettify_message with tflow), on recorded streams of each format."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mitmproxy import contentviews, http
from mitmproxy.test import taddons, tflow, tutils
from sse_view import ModelStreamView

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


def shown(url: str, body: bytes) -> contentviews.ContentviewResult:
    req = http.Request.make("POST", url, b"{}", {"content-type": "application/json"})
    resp = tutils.tresp(content=body)
    resp.headers["content-type"] = "text/event-stream; charset=utf-8"
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
