"""Anthropic non-streamed messages and error bodies, validated by the SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic_helpers import Reader, fixture_names, reader, sdk_client, sdk_view
from omniroute_mitm.translators.anthropic import FORMAT
from omniroute_mitm.translators.canonical import (
    ErrorInfo,
    Media,
    Reasoning,
    Response,
    StopReason,
    Text,
    ToolCall,
    Usage,
    WebSearchCall,
    WebSearchResults,
    counting_env,
    unwrap_meta,
)

MESSAGES = [n for n in fixture_names(".json") if n.startswith("message-")]


@pytest.fixture
def fixture(fixtures_dir: Path) -> Reader:
    return reader(fixtures_dir)


# name -> (stop, (input incl. cache, output, cache read, cache write), part kinds)
EXPECTED = {
    "message-text.json": ("stop", None, ["Text"]),
    "message-tool-use-parallel.json": (
        "tool_use",
        (416, 109, 0, 0),
        ["Text", "ToolCall", "ToolCall"],
    ),
    "message-thinking.json": ("stop", None, ["Reasoning", "Text"]),
    "message-redacted-thinking.json": ("stop", None, ["Reasoning", "Text"]),
    "message-max-tokens.json": ("length", None, ["Text"]),
    "message-stop-sequence.json": ("stop_sequence", (32, 5, 0, 0), ["Text"]),
    "message-cache-read.json": ("stop", None, ["Text"]),
    "message-web-search-citations.json": ("stop", None, None),
    "message-refusal-stop-details.json": ("refusal", (18, 5, 0, 0), []),
}


def _load(fixture: Reader, name: str) -> dict[str, Any]:
    return dict(json.loads(fixture(name)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_message_fixture_parses(name: str, fixture: Reader) -> None:
    stop, usage, kinds = EXPECTED[name]
    response = FORMAT.parse_response(_load(fixture, name))
    assert response.stop_reason == stop
    assert response.id.startswith("msg_")
    if usage is not None:
        u = response.usage
        assert u is not None
        assert (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_creation_tokens,
        ) == usage
    if kinds is not None:
        assert [type(p).__name__ for p in response.parts] == kinds


def test_cache_read_tokens_are_added_to_input(fixture: Reader) -> None:
    raw = _load(fixture, "message-cache-read.json")["usage"]
    usage = FORMAT.parse_response(_load(fixture, "message-cache-read.json")).usage
    assert usage is not None and usage.cache_read_tokens == 4167
    assert usage.input_tokens == (
        raw["input_tokens"] + raw["cache_read_input_tokens"] + raw["cache_creation_input_tokens"]
    )


def test_every_message_fixture_has_expectations() -> None:
    if not MESSAGES:
        pytest.skip("../shared/fixtures not present")
    assert set(MESSAGES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_message_fixture_renders_back_identically_for_the_sdk(name: str, fixture: Reader) -> None:
    body = _load(fixture, name)
    again = FORMAT.render_response(FORMAT.parse_response(body), counting_env())
    # The 2025 recording lacks usage.server_tool_use.web_fetch_requests, which
    # SDK 2.11 requires; the rendering adds it (0).
    if "server_tool_use" in body["usage"]:
        body["usage"]["server_tool_use"].setdefault("web_fetch_requests", 0)
    want = anthropic.types.Message.model_validate(body)
    got = anthropic.types.Message.model_validate(again)
    assert sdk_view(got) == sdk_view(want)
    assert got.stop_details == want.stop_details
    assert got.id == want.id and got.model == want.model


def test_web_search_blocks_become_web_parts_and_citations_kept(fixture: Reader) -> None:
    response = FORMAT.parse_response(_load(fixture, "message-web-search-citations.json"))
    calls = [p for p in response.parts if isinstance(p, WebSearchCall)]
    results = [p for p in response.parts if isinstance(p, WebSearchResults)]
    assert [c.query for c in calls][0] == "bitcoin price January 1 2026"
    assert len(calls) == 3 and [r.call_id for r in results] == [c.id for c in calls]
    assert results[0].results[0].url == "https://finance.yahoo.com/quote/BTC-USD/history/"
    assert results[0].results[0].encrypted_content
    assert response.usage is not None and response.usage.web_search_requests == 3
    cited = [p for p in response.parts if isinstance(p, Text) and p.citations]
    assert cited and cited[0].meta["anthropic"]["citations"]
    assert cited[0].citations[0].url.startswith("https://")
    assert cited[0].citations[0].cited_text


def _render(
    parts: list[Any], stop: StopReason = "stop", usage: Usage | None = None
) -> dict[str, Any]:
    response = Response(id="", model="gpt-x", parts=parts, stop_reason=stop, usage=usage)
    body = FORMAT.render_response(response, counting_env())
    anthropic.types.Message.model_validate(body)
    return body


def test_rendered_response_from_another_provider() -> None:
    meta = {"gemini": {"thoughtSignature": "c2ln"}}
    body = _render(
        [
            Reasoning("thought", meta={"openai-responses": {"encrypted_content": "gAAA"}}),
            Reasoning("plain"),
            Text("Here."),
            Media("image/png", data="AAAA"),
            ToolCall("call_1", "search", '{"q": "x"}', meta=meta),
            ToolCall("call_2", "apply_patch", "*** Begin", kind="custom"),
        ],
        usage=Usage(input_tokens=100, output_tokens=40, cache_read_tokens=60, reasoning_tokens=12),
    )
    assert body["id"] == "msg_1" and body["model"] == "gpt-x"
    blocks = body["content"]
    assert [b["type"] for b in blocks] == [
        "thinking",
        "thinking",
        "text",
        "tool_use",
        "thinking",
        "tool_use",
    ]
    assert unwrap_meta(blocks[0]["signature"]) == {
        "openai-responses": {"encrypted_content": "gAAA"}
    }
    assert blocks[1]["signature"] == ""
    assert blocks[3]["input"] == {"q": "x"}
    assert blocks[5]["input"] == {"input": "*** Begin"}
    assert body["stop_reason"] == "tool_use"
    assert body["usage"] == {
        "input_tokens": 40,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 60,
        "output_tokens": 40,
        "output_tokens_details": {"thinking_tokens": 12},
    }
    # Sent back by the client: the gemini signature returns to its tool call.
    parsed = FORMAT.parse_response(body)
    calls = [p for p in parsed.parts if isinstance(p, ToolCall)]
    assert calls[0].meta == meta
    assert not any(isinstance(p, Reasoning) and not p.text for p in parsed.parts)


@pytest.mark.parametrize(
    ("stop", "wire"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_use", "end_turn"),  # no tool_use block: a client would wait for tools
        ("stop_sequence", "stop_sequence"),
        ("content_filter", "refusal"),
        ("refusal", "refusal"),
        ("pause_turn", "pause_turn"),
        ("error", "end_turn"),
    ],
)
def test_stop_reasons_render(stop: StopReason, wire: str) -> None:
    assert _render([Text("x")], stop)["stop_reason"] == wire


@pytest.mark.parametrize(
    ("wire", "stop"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_use"),
        ("stop_sequence", "stop_sequence"),
        ("pause_turn", "pause_turn"),
        ("refusal", "refusal"),
        ("model_context_window_exceeded", "length"),
        (None, "stop"),
    ],
)
def test_stop_reasons_parse(wire: Any, stop: str) -> None:
    body = {"id": "msg_1", "model": "m", "content": [], "stop_reason": wire, "usage": {}}
    assert FORMAT.parse_response(body).stop_reason == stop


# --------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "status", "kind", "message"),
    [
        (
            "error-400-invalid-request.json",
            400,
            "invalid_request",
            "This model does not support effort",
        ),
        ("error-401-authentication.json", 401, "authentication", "invalid x-api-key"),
        ("error-404-not-found.json", 404, "not_found", "model: this-model-does-not-exist"),
    ],
)
def test_error_fixtures_parse(
    name: str, status: int, kind: str, message: str, fixture: Reader
) -> None:
    error = FORMAT.parse_error(status, fixture(name))
    assert (error.status, error.kind) == (status, kind)
    assert error.message.startswith(message)


@pytest.mark.parametrize(
    ("kind", "status", "wire", "exc"),
    [
        ("invalid_request", 400, "invalid_request_error", anthropic.BadRequestError),
        ("authentication", 401, "authentication_error", anthropic.AuthenticationError),
        ("permission", 403, "permission_error", anthropic.PermissionDeniedError),
        ("not_found", 404, "not_found_error", anthropic.NotFoundError),
        ("request_too_large", 413, "request_too_large", anthropic.APIStatusError),
        ("rate_limit", 429, "rate_limit_error", anthropic.RateLimitError),
        ("server", 500, "api_error", anthropic.InternalServerError),
        ("overloaded", 529, "overloaded_error", anthropic.OverloadedError),
        ("timeout", 504, "timeout_error", anthropic.APIStatusError),
    ],
)
def test_errors_render_in_anthropics_shape(kind: Any, status: int, wire: str, exc: type) -> None:
    got_status, body = FORMAT.render_error(ErrorInfo(0, kind, "went wrong"))
    assert got_status == status
    assert body == {"type": "error", "error": {"type": wire, "message": "went wrong"}}
    client = sdk_client(json.dumps(body).encode(), status=status, stream=False)
    with pytest.raises(exc) as raised:
        client.messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == status
    again = FORMAT.parse_error(status, json.dumps(body).encode())
    assert (again.kind, again.message) == (kind, "went wrong")


def test_an_http_error_status_is_kept() -> None:
    status, body = FORMAT.render_error(ErrorInfo(503, "overloaded", "busy"))
    assert status == 503 and body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("status", "raw", "kind", "message"),
    [
        (502, b"<html><body>Bad Gateway</body></html>", "server", "<html><body>Bad Gateway"),
        (500, b"", "server", "HTTP 500"),
        (429, b"\xff\xfe not utf8", "rate_limit", "\ufffd\ufffd not utf8"),
        (
            400,
            b'{"error": {"message": "bad", "type": "invalid_request_error", "code": null}}',
            "invalid_request",
            "bad",
        ),
        (
            404,
            b'{"error": {"code": 404, "message": "no model", "status": "NOT_FOUND"}}',
            "not_found",
            "no model",
        ),
        (
            402,
            b'{"type":"error","error":{"type":"billing_error","message":"pay"}}',
            "permission",
            "pay",
        ),
        (400, b"[1, 2]", "invalid_request", "[1, 2]"),
    ],
)
def test_any_error_body_parses(status: int, raw: bytes, kind: str, message: str) -> None:
    error = FORMAT.parse_error(status, raw)
    assert (error.status, error.kind) == (status, kind)
    assert error.message.startswith(message)
