"""One meaning for every client format.

Gemini's ``UNEXPECTED_TOOL_CALL`` (the model called a tool the request did
not offer, or allowed none): the turn failed. No client is told to run the
call: Responses says ``failed``, Chat ``stop``, Anthropic ``end_turn``,
Gemini (from another format) ``OTHER``; never a tool stop.

An attachment a target cannot take (audio by URL, say) is replaced by the
same note for every target that cannot take it, never dropped silently.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    FORMAT_NAMES,
    Media,
    Message,
    Request,
    Text,
    ToolCall,
    ToolResult,
    counting_env,
)
from openai_responses_helpers import wire_events
from sdk_judge import RESPONSE_JUDGES
from streamkit import pieces

GEMINI = get_format("gemini")

# What each client format's own stop field says for a failed turn.
FAILED_STOP = {
    "openai-chat": "stop",
    "anthropic": "end_turn",
    "openai-responses": "failed",
    "gemini": "OTHER",
}
TOOL_STOPS = {"tool_calls", "tool_use", "function_call"}


def unexpected_candidate() -> dict[str, Any]:
    """Gemini's documented shape: the call it was not allowed to make, the
    finish reason, and a finishMessage naming the tool."""
    return {
        "content": {
            "role": "model",
            "parts": [{"functionCall": {"name": "delete_repo", "args": {"name": "prod"}}}],
        },
        "finishReason": "UNEXPECTED_TOOL_CALL",
        "finishMessage": "Unexpected tool call: Model tried to call an undeclared function: "
        "delete_repo",
        "index": 0,
    }


def gemini_body() -> dict[str, Any]:
    return {
        "candidates": [unexpected_candidate()],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 6, "totalTokenCount": 18},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-unexpected",
    }


def gemini_stream() -> bytes:
    first = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "I will clean up."}]}}],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-unexpected",
    }
    return b"".join(f"data: {json.dumps(c)}\r\n\r\n".encode() for c in [first, gemini_body()])


def stop_of(client: str, body: dict[str, Any]) -> str:
    if client == "openai-chat":
        return str(body["choices"][0]["finish_reason"])
    if client == "anthropic":
        return str(body["stop_reason"])
    if client == "openai-responses":
        return str(body["status"])
    return str(body["candidates"][0]["finishReason"])


def stream_stop_of(client: str, out: bytes) -> str:
    if client == "openai-chat":
        frames = [json.loads(f[6:]) for f in out.decode().split("\n\n") if f[6:7] == "{"]
        reasons = [c["finish_reason"] for f in frames for c in f.get("choices", [])]
        return str([r for r in reasons if r][-1])
    payloads = [p for _, p in wire_events(out)] if client != "gemini" else []
    if client == "anthropic":
        return str(
            next(p for p in payloads if p["type"] == "message_delta")["delta"]["stop_reason"]
        )
    if client == "openai-responses":
        return str(payloads[-1]["response"]["status"])
    chunks = [
        json.loads(line[6:]) for line in out.decode().splitlines() if line.startswith("data: ")
    ]
    reasons = [c["finishReason"] for ch in chunks for c in ch.get("candidates", [])]
    return str([r for r in reasons if r.strip()][-1] if reasons else "")


def test_unexpected_tool_call_is_a_failed_turn() -> None:
    response = GEMINI.parse_response(gemini_body())
    assert response.stop_reason == "error"


@pytest.mark.parametrize("client", FORMAT_NAMES)
def test_unexpected_tool_call_response_fails_alike_everywhere(client: str) -> None:
    response = GEMINI.parse_response(gemini_body())
    body = json.loads(json.dumps(get_format(client).render_response(response, counting_env())))
    assert stop_of(client, body) == FAILED_STOP[client]
    assert stop_of(client, body) not in TOOL_STOPS
    RESPONSE_JUDGES[client](body)  # the client's SDK reads it (strict models)


@pytest.mark.parametrize("client", [c for c in FORMAT_NAMES if c != "gemini"])
@pytest.mark.parametrize("seed", range(3))
def test_unexpected_tool_call_stream_fails_alike_everywhere(client: str, seed: int) -> None:
    translator = StreamTranslator(GEMINI, get_format(client), counting_env(), model="m")
    out = b"".join(translator.feed(p) for p in pieces(gemini_stream(), "random", seed))
    out += translator.finish()
    assert translator.stop_reason == "error" and translator.error is None
    assert stream_stop_of(client, out) == FAILED_STOP[client]


# ------------------------------------------------------------- attachments

AUDIO_URL = Media("audio/mpeg", url="https://media.example/briefing.mp3")
NOTE = "[attachment (audio/mpeg) omitted]"


def _texts(value: Any) -> list[str]:
    """Every text string anywhere in a rendered request body."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("target", ["openai-chat", "anthropic"])
def test_audio_by_url_is_the_same_note_for_every_target_that_cannot_take_it(target: str) -> None:
    request = Request(model="m", messages=[Message("user", [Text("Summarize:"), AUDIO_URL])])
    body = get_format(target).render_request(request, counting_env())
    assert NOTE in _texts(body["messages"])
    assert request.warnings


@pytest.mark.parametrize("target", ["openai-chat", "anthropic"])
def test_audio_by_url_in_a_tool_result_is_the_same_note(target: str) -> None:
    request = Request(
        model="m",
        messages=[
            Message("user", [Text("fetch it")]),
            Message("assistant", [ToolCall("call_1", "fetch", "{}")]),
            Message("user", [ToolResult("call_1", [Text("got it"), AUDIO_URL], name="fetch")]),
        ],
    )
    body = get_format(target).render_request(request, counting_env())
    assert NOTE in _texts(body["messages"])


@pytest.mark.parametrize("target", ["gemini", "openai-responses"])
def test_targets_that_take_files_by_url_still_get_the_url(target: str) -> None:
    request = Request(model="m", messages=[Message("user", [Text("Summarize:"), AUDIO_URL])])
    body = get_format(target).render_request(request, counting_env())
    assert AUDIO_URL.url in _texts(body)
    assert NOTE not in _texts(body)
