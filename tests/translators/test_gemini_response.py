"""Non-streamed GenerateContentResponse and errors, judged by google-genai."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gemini_helpers import APIError, client, fixture_json, sdk_view
from google.genai import types as gtypes
from omniroute_mitm.translators.canonical import (
    ErrorInfo,
    Media,
    Opaque,
    Reasoning,
    Refusal,
    Response,
    Text,
    ToolCall,
    Usage,
    counting_env,
    unwrap_meta,
)
from omniroute_mitm.translators.gemini import FORMAT


def render(response: Response) -> dict[str, Any]:
    return FORMAT.render_response(response, counting_env())


def sdk(body: dict[str, Any]) -> dict[str, Any]:
    """What google-genai makes of a response body (validated strictly)."""
    return sdk_view([gtypes.GenerateContentResponse.model_validate(json.loads(json.dumps(body)))])


# ------------------------------------------------------------------ fixtures


def test_text_fixture() -> None:
    response = FORMAT.parse_response(fixture_json("generate-text.json"))
    assert response.id == "SJfyaMbrNJKlqtsPvNOW8Ao" and response.model == "gemini-2.5-flash"
    (text,) = response.parts
    assert isinstance(text, Text) and text.text.endswith("= **4242**.")
    assert response.stop_reason == "stop"
    assert response.usage == Usage(input_tokens=13, output_tokens=102, reasoning_tokens=25)


def test_parallel_calls_fixture() -> None:
    response = FORMAT.parse_response(fixture_json("generate-function-calls-parallel.json"))
    first, second = response.parts
    assert isinstance(first, ToolCall) and isinstance(second, ToolCall)
    assert (first.name, json.loads(first.arguments)) == (
        "secret_retrieval_tool",
        {"password": "mellon"},
    )
    assert json.loads(second.arguments) == {"password": "radiance"}
    assert first.id != second.id
    assert first.id == "call_AJnyaJv6GPulqtsP5Z6fgAs_0"
    assert first.meta["gemini"]["thoughtSignature"].startswith("CtICAdHtim9")
    assert second.meta == {}
    assert response.stop_reason == "tool_use"


def test_thinking_fixture() -> None:
    response = FORMAT.parse_response(fixture_json("generate-thinking-thought-parts.json"))
    thought, answer = response.parts
    assert isinstance(thought, Reasoning) and thought.text.startswith("**Analyzing Prime Numbers")
    assert isinstance(answer, Text) and "379" in answer.text
    assert response.usage is not None and response.usage.reasoning_tokens == 1754


@pytest.mark.parametrize(
    ("name", "stop"),
    [
        ("generate-max-tokens.json", "length"),
        ("generate-safety-blocked.json", "content_filter"),
        ("generate-grounding-google-search.json", "stop"),
    ],
)
def test_stop_reason_fixtures(name: str, stop: str) -> None:
    assert FORMAT.parse_response(fixture_json(name)).stop_reason == stop


def test_cached_content_fixture_counts_cache_reads_inside_input() -> None:
    usage = FORMAT.parse_response(fixture_json("generate-cached-content.json")).usage
    assert usage == Usage(
        input_tokens=3520, output_tokens=44, cache_read_tokens=3512, reasoning_tokens=42
    )


def test_grounding_metadata_survives_a_gemini_round_trip() -> None:
    body = fixture_json("generate-grounding-google-search.json")
    rendered = render(FORMAT.parse_response(body))
    grounding = body["candidates"][0]["groundingMetadata"]
    assert rendered["candidates"][0]["groundingMetadata"] == grounding
    assert sdk(rendered)["text"] == sdk(body)["text"]


@pytest.mark.parametrize(
    "name",
    [
        "generate-text.json",
        "generate-function-calls-parallel.json",
        "generate-thinking-thought-parts.json",
        "generate-max-tokens.json",
        "generate-safety-blocked.json",
        "generate-grounding-google-search.json",
    ],
)
def test_fixture_round_trips_through_canonical(name: str) -> None:
    body = fixture_json(name)
    response = FORMAT.parse_response(body)
    again = FORMAT.parse_response(render(response))
    assert again == response
    view, original = sdk(render(response)), sdk(body)
    for key in ("text", "thoughts", "finish", "usage"):
        assert view[key] == original[key]
    assert [c[1:] for c in view["calls"]] == [c[1:] for c in original["calls"]]


def test_blocked_prompt_without_candidates() -> None:
    body = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 4},
    }
    response = FORMAT.parse_response(body)
    assert response.parts == [] and response.stop_reason == "content_filter"


# ----------------------------------------------------------------- rendering


def test_rendered_response_reads_right_in_the_sdk() -> None:
    response = Response(
        id="r1",
        model="gemini-x",
        parts=[
            Reasoning("thinking", {"gemini": {"thoughtSignature": "dGhvdWdodA=="}}),
            Text("Hello"),
            Refusal(" (partly declined)"),
            ToolCall("c1", "f", '{"a": [1, 2]}'),
            Media("image/png", data="iVBORw0KGgo="),
            Opaque("gemini", {"executableCode": {"language": "PYTHON", "code": "1"}}),
            Opaque("anthropic", {"type": "server_tool_use"}),
        ],
        stop_reason="tool_use",
        usage=Usage(input_tokens=100, output_tokens=30, cache_read_tokens=60, reasoning_tokens=10),
    )
    body = render(response)
    view = sdk(body)
    assert view["text"] == "Hello (partly declined)"
    assert view["thoughts"] == "thinking"
    assert view["calls"] == [("c1", "f", {"a": [1, 2]})]
    assert view["finish"] == "STOP"
    assert view["usage"] == (100, 20, 10, 60)
    assert len(body["candidates"][0]["content"]["parts"]) == 6  # the Anthropic item is dropped
    assert body["usageMetadata"]["totalTokenCount"] == 130


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("stop", "STOP"),
        ("stop_sequence", "STOP"),
        ("tool_use", "STOP"),
        ("length", "MAX_TOKENS"),
        ("content_filter", "SAFETY"),
        ("refusal", "SAFETY"),
        ("pause_turn", "STOP"),
        ("error", "OTHER"),
    ],
)
def test_stop_reasons_render(stop: Any, finish: str) -> None:
    body = render(Response(id="r", model="m", parts=[Text("x")], stop_reason=stop))
    assert sdk(body)["finish"] == finish


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("OTHER", "stop"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reasons_parse(finish: str, stop: str) -> None:
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": finish}
        ]
    }
    assert FORMAT.parse_response(body).stop_reason == stop


def test_foreign_thinking_is_carried_in_the_signatures() -> None:
    anthropic = {"anthropic": {"signature": "EqQBCkYI"}}
    response = Response(
        id="msg_1",
        model="claude",
        parts=[
            Reasoning("I need the weather.", anthropic),
            ToolCall("toolu_1", "weather", '{"city":"Oslo"}'),
        ],
        stop_reason="tool_use",
    )
    thought, call = render(response)["candidates"][0]["content"]["parts"]
    assert unwrap_meta(thought["thoughtSignature"]) == anthropic
    carried = unwrap_meta(call["thoughtSignature"])
    assert carried == {
        "_reasoning": {"parts": [{"text": "I need the weather.", "meta": anthropic}]}
    }
    # The SDK accepts the envelopes (thoughtSignature is validated as base64).
    assert sdk(render(response))["calls"] == [("toolu_1", "weather", {"city": "Oslo"})]

    # Gemini CLI sends the call back without the thought part: the thinking
    # is restored for the provider that signed it.
    history = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [call]},
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "toolu_1",
                            "name": "weather",
                            "response": {"output": "-3C"},
                        }
                    }
                ],
            },
        ]
    }
    model_turn = FORMAT.parse_request(history, model="m").messages[1]
    assert model_turn.parts == [
        Reasoning("I need the weather.", anthropic),
        ToolCall("toolu_1", "weather", '{"city":"Oslo"}'),
    ]


def test_empty_signed_text_part_attaches_to_the_text() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "answer"}, {"text": "", "thoughtSignature": "c2ln"}],
                },
                "finishReason": "STOP",
            }
        ]
    }
    (text,) = FORMAT.parse_response(body).parts
    assert text == Text("answer", meta={"gemini": {"thoughtSignature": "c2ln"}})


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "status", "kind", "code"),
    [
        ("error-400-api-key-invalid.json", 400, "authentication", "API_KEY_INVALID"),
        ("error-404-model-not-found.json", 404, "not_found", "NOT_FOUND"),
        ("error-429-resource-exhausted.json", 429, "rate_limit", "RESOURCE_EXHAUSTED"),
    ],
)
def test_error_fixtures(name: str, status: int, kind: str, code: str) -> None:
    body = fixture_json(name)
    error = FORMAT.parse_error(status, json.dumps(body).encode())
    assert (error.status, error.kind, error.code) == (status, kind, code)
    assert error.message == body["error"]["message"]


@pytest.mark.parametrize(
    ("status", "raw", "kind", "message"),
    [
        (
            502,
            b"<html><body>Bad gateway</body></html>",
            "server",
            "<html><body>Bad gateway</body></html>",
        ),
        (503, b"", "overloaded", "HTTP 503"),
        (400, b"{not json", "invalid_request", "{not json"),
        (
            500,
            b'[{"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}]',
            "server",
            "boom",
        ),
        (429, b'{"unexpected": true}', "rate_limit", '{"unexpected": true}'),
        (403, b"\xff\xfe garbage", "permission", "\ufffd\ufffd garbage"),
    ],
)
def test_any_error_body_parses(status: int, raw: bytes, kind: str, message: str) -> None:
    error = FORMAT.parse_error(status, raw)
    assert (error.status, error.kind, error.message) == (status, kind, message)


@pytest.mark.parametrize(
    ("error", "status", "grpc"),
    [
        (ErrorInfo(400, "invalid_request", "bad field"), 400, "INVALID_ARGUMENT"),
        (ErrorInfo(401, "authentication", "no key"), 401, "UNAUTHENTICATED"),
        (ErrorInfo(400, "authentication", "bad key"), 400, "INVALID_ARGUMENT"),
        (ErrorInfo(403, "permission", "denied"), 403, "PERMISSION_DENIED"),
        (ErrorInfo(404, "not_found", "no model"), 404, "NOT_FOUND"),
        (ErrorInfo(413, "request_too_large", "too big"), 413, "INVALID_ARGUMENT"),
        (ErrorInfo(429, "rate_limit", "slow"), 429, "RESOURCE_EXHAUSTED"),
        (ErrorInfo(529, "overloaded", "busy"), 503, "UNAVAILABLE"),
        (ErrorInfo(500, "server", "oops"), 500, "INTERNAL"),
        (ErrorInfo(504, "timeout", "late"), 504, "DEADLINE_EXCEEDED"),
    ],
)
def test_rendered_errors_raise_in_the_sdk_and_parse_back(
    error: ErrorInfo, status: int, grpc: str
) -> None:
    got_status, body = FORMAT.render_error(error)
    assert got_status == status and body["error"]["status"] == grpc
    sdk = client(json.dumps(body).encode(), status=got_status)
    with pytest.raises(APIError) as exc:
        sdk.models.generate_content(model="m", contents="x")
    assert (exc.value.code, exc.value.status, exc.value.message) == (status, grpc, error.message)
    again = FORMAT.parse_error(got_status, json.dumps(body).encode())
    assert (again.kind, again.message) == (error.kind, error.message)


def test_sdk_convenience_properties() -> None:
    text = gtypes.GenerateContentResponse.model_validate(
        render(Response(id="r", model="m", parts=[Text("Hi "), Text("there")], usage=Usage(5, 2)))
    )
    assert text.text == "Hi there"
    assert text.usage_metadata is not None and text.usage_metadata.total_token_count == 7
    calls = gtypes.GenerateContentResponse.model_validate(
        render(
            Response(
                id="r", model="m", parts=[ToolCall("c1", "f", '{"q": "x"}')], stop_reason="tool_use"
            )
        )
    )
    assert calls.function_calls is not None
    assert [(c.id, c.name, c.args) for c in calls.function_calls] == [("c1", "f", {"q": "x"})]
