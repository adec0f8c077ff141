"""openai-chat complete responses and error bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from omniroute_mitm.translators.canonical import (
    ErrorInfo,
    Media,
    Reasoning,
    Refusal,
    Response,
    StopReason,
    Text,
    ToolCall,
    Usage,
    counting_env,
)
from omniroute_mitm.translators.openai_chat import FORMAT
from openai.types.chat import ChatCompletion
from openai_chat_helpers import sdk_client


def load(fixtures_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir / "openai-chat" / name).read_text())
    return data


# ------------------------------------------------------------ recorded bodies


@pytest.mark.parametrize(
    ("name", "parts", "stop", "usage"),
    [
        ("completion-text.json", [Text("\\(4200 + 42 = 4242\\).")], "stop", Usage(16, 12)),
        (
            "completion-tool-calls-parallel.json",
            [
                ToolCall(
                    "call_v6LacIrChvs6ITVpIZqy5tFc",
                    "secret_retrieval_tool",
                    '{"password": "mellon"}',
                ),
                ToolCall(
                    "call_onyWzk4mLTGKzW9cthmf4Llq",
                    "secret_retrieval_tool",
                    '{"password": "radiance"}',
                ),
            ],
            "tool_use",
            Usage(75, 53),
        ),
        (
            "completion-refusal.json",
            [Refusal("I'm very sorry, but I can't assist with that request.")],
            "refusal",
            Usage(64, 13),
        ),
        ("completion-cached-tokens.json", None, "stop", Usage(3663, 117, cache_read_tokens=3584)),
    ],
)
def test_recorded_completions(
    fixtures_dir: Path, name: str, parts: list[Any] | None, stop: StopReason, usage: Usage
) -> None:
    body = load(fixtures_dir, name)
    response = FORMAT.parse_response(body)
    assert response.id == body["id"] and response.model == body["model"]
    assert response.created == body["created"]
    if parts is not None:
        assert response.parts == parts
    assert response.stop_reason == stop
    assert response.usage == usage


def test_length_completion_keeps_text_and_reason(fixtures_dir: Path) -> None:
    response = FORMAT.parse_response(load(fixtures_dir, "completion-length.json"))
    assert response.stop_reason == "length"
    assert isinstance(response.parts[0], Text) and response.parts[0].text.endswith("9. Florida")


@pytest.mark.parametrize(
    "name",
    [
        "completion-text.json",
        "completion-tool-calls-parallel.json",
        "completion-refusal.json",
        "completion-cached-tokens.json",
    ],
)
def test_recorded_completion_rendered_back_says_the_same(fixtures_dir: Path, name: str) -> None:
    body = load(fixtures_dir, name)
    rendered = FORMAT.render_response(FORMAT.parse_response(body), counting_env())
    original, again = body["choices"][0], rendered["choices"][0]
    for key in ("content", "refusal", "tool_calls"):
        assert again["message"].get(key) == original["message"].get(key)
    assert again["finish_reason"] == original["finish_reason"]
    assert (
        rendered["usage"]["prompt_tokens_details"]["cached_tokens"]
        == (body["usage"]["prompt_tokens_details"]["cached_tokens"])
    )


# ------------------------------------------------------------- other shapes


def test_deepseek_reasoning_and_stop_with_tool_calls() -> None:
    body = {
        "id": "x",
        "model": "deepseek-reasoner",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",  # Gemini's compatibility layer says this after calls
                "message": {
                    "role": "assistant",
                    "content": "",
                    "reasoning_content": "think",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_cache_hit_tokens": 6},
    }
    response = FORMAT.parse_response(body)
    assert response.parts == [
        Reasoning("think", meta={"openai-chat": {}}),
        ToolCall("c", "f", "{}"),
    ]
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(10, 4, cache_read_tokens=6)


def test_provider_extras_never_crash_parsing() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "content": [
                        {"type": "thinking", "thinking": []},
                        {"type": "text", "text": "hi"},
                    ]
                },
                "finish_reason": "eos_token",
            }
        ],
        "usage": None,
        "x_extra": 1,
    }
    response = FORMAT.parse_response(body)
    assert response.parts == [Text("hi")] and response.stop_reason == "stop"


RESPONSES = [
    Response("r1", "m", [Text("hello")], "stop", usage=Usage(5, 2), created=1),
    Response(
        "r2",
        "m",
        [
            Reasoning("why", meta={"openai-chat": {}}),
            Text("a"),
            ToolCall("c1", "f", '{"q":1}'),
            ToolCall("c2", "g", "{}"),
        ],
        "tool_use",
        usage=Usage(100, 50, cache_read_tokens=20, reasoning_tokens=10),
        created=2,
    ),
    Response("r3", "m", [Refusal("no")], "refusal", usage=Usage(1, 1), created=3),
    Response("r4", "m", [Text("cut")], "length", usage=Usage(1, 1), created=4),
    Response("r5", "m", [Text("bad")], "content_filter", usage=Usage(1, 1), created=5),
    Response(
        "r6",
        "m",
        [ToolCall("c", "sh", "ls -la", kind="custom")],
        "tool_use",
        usage=Usage(2, 2),
        created=6,
    ),
    Response("r7", "m", [], "stop", usage=Usage(3, 0, cache_creation_tokens=2), created=7),
]


@pytest.mark.parametrize("response", RESPONSES, ids=lambda r: r.id)
def test_rendered_response_is_a_valid_chat_completion_and_round_trips(response: Response) -> None:
    body = FORMAT.render_response(response, counting_env())
    completion = ChatCompletion.model_validate(body)
    assert completion.choices[0].message.role == "assistant"
    assert FORMAT.parse_response(body) == response


@pytest.mark.parametrize(
    ("parts", "stop", "finish"),
    [
        ([Text("x")], "stop_sequence", "stop"),
        ([Text("x")], "pause_turn", "stop"),
        ([Text("x")], "error", "stop"),
        ([Text("x")], "refusal", "content_filter"),  # a classifier stopped it
        ([Refusal("no")], "refusal", "stop"),  # the model said no, as OpenAI reports it
        ([Text("x")], "tool_use", "stop"),  # no tool call to run
        ([ToolCall("c", "f", "{}")], "stop", "tool_calls"),  # Gemini says STOP after calls
        ([ToolCall("c", "f", "{}")], "length", "length"),
    ],
)
def test_finish_reason_tells_the_client_what_to_do(
    parts: list[Any], stop: StopReason, finish: str
) -> None:
    body = FORMAT.render_response(Response("r", "m", parts, stop), counting_env())
    assert body["choices"][0]["finish_reason"] == finish


def test_other_providers_output_is_shown_as_far_as_chat_can() -> None:
    response = Response(
        "",
        "claude",
        [
            Reasoning("deep thought", meta={"anthropic": {"signature": "sig"}}),
            Text("Part one, "),
            Text("part two."),
            Media("image/png", data="AAAA"),
            ToolCall("", "f", ""),
        ],
        "tool_use",
    )
    body = FORMAT.render_response(response, counting_env())
    ChatCompletion.model_validate(body)
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "deep thought"
    assert message["content"] == "Part one, part two."
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    assert body["id"] == "chatcmpl-2" and body["created"] == 1_700_000_000
    assert body["usage"]["total_tokens"] == 0


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "status", "kind", "code", "param"),
    [
        (
            "error-400-unsupported-value.json",
            400,
            "invalid_request",
            "unsupported_value",
            "messages[0].role",
        ),
        ("error-401-invalid-api-key.json", 401, "authentication", "invalid_api_key", None),
        ("error-404-model-not-found.json", 404, "not_found", "model_not_found", None),
    ],
)
def test_recorded_error_bodies(
    fixtures_dir: Path, name: str, status: int, kind: str, code: str, param: str | None
) -> None:
    raw = (fixtures_dir / "openai-chat" / name).read_bytes()
    info = FORMAT.parse_error(status, raw)
    assert (info.status, info.kind, info.code, info.param) == (status, kind, code, param)
    assert info.message == json.loads(raw)["error"]["message"]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            429,
            b'{"error": {"message": "quota", "type": "insufficient_quota",'
            b' "code": "insufficient_quota"}}',
            ErrorInfo(429, "rate_limit", "quota", "insufficient_quota"),
        ),
        (
            400,
            b'{"error": "model is required"}',
            ErrorInfo(400, "invalid_request", "model is required"),
        ),
        (500, b'{"message": "boom", "type": "internal"}', ErrorInfo(500, "server", "boom")),
        (
            422,
            b'{"detail": [{"loc": ["body"], "msg": "bad"}]}',
            ErrorInfo(422, "invalid_request", '[{"loc": ["body"], "msg": "bad"}]'),
        ),
        (
            503,
            b"<html><body>Service Unavailable</body></html>",
            ErrorInfo(503, "overloaded", "<html><body>Service Unavailable</body></html>"),
        ),
        (502, b"", ErrorInfo(502, "server", "HTTP 502")),
        (401, b"\xff\xfe not utf8", ErrorInfo(401, "authentication", "\ufffd\ufffd not utf8")),
        (
            400,
            b'[{"error": {"message": "wrapped", "code": 400, "status": "INVALID_ARGUMENT"}}]',
            ErrorInfo(400, "invalid_request", "wrapped"),
        ),
        (404, b"null", ErrorInfo(404, "not_found", "null")),
    ],
)
def test_any_error_body_becomes_an_error_info(
    status: int, body: bytes, expected: ErrorInfo
) -> None:
    assert FORMAT.parse_error(status, body) == expected


@pytest.mark.parametrize(
    ("error", "status", "exception"),
    [
        (
            ErrorInfo(400, "invalid_request", "bad field", param="messages"),
            400,
            openai.BadRequestError,
        ),
        (ErrorInfo(401, "authentication", "bad key"), 401, openai.AuthenticationError),
        (ErrorInfo(403, "permission", "no"), 403, openai.PermissionDeniedError),
        (ErrorInfo(404, "not_found", "no model"), 404, openai.NotFoundError),
        (ErrorInfo(429, "rate_limit", "slow down"), 429, openai.RateLimitError),
        (ErrorInfo(529, "overloaded", "Overloaded"), 503, openai.InternalServerError),
        (ErrorInfo(500, "server", "oops"), 500, openai.InternalServerError),
    ],
)
def test_rendered_errors_reach_sdk_users_as_the_right_exception(
    error: ErrorInfo, status: int, exception: type[openai.APIStatusError]
) -> None:
    got_status, body = FORMAT.render_error(error)
    assert got_status == status
    client = sdk_client(json.dumps(body).encode(), "application/json", status)
    with pytest.raises(exception) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.message.endswith(error.message) or error.message in info.value.message
    assert FORMAT.parse_error(got_status, json.dumps(body).encode()).kind == error.kind


def test_insufficient_quota_keeps_its_openai_type() -> None:
    _, body = FORMAT.render_error(ErrorInfo(429, "rate_limit", "quota", code="insufficient_quota"))
    assert body["error"]["type"] == "insufficient_quota"
