"""openai-chat requests: canonical -> provider body."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from omniroute_mitm.translators.canonical import (
    Media,
    Message,
    Reasoning,
    ReasoningConfig,
    Request,
    ResponseFormat,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from omniroute_mitm.translators.openai_chat import FORMAT
from openai_chat_helpers import PNG, parse, render

# ---------------------------------------------------------------- rendering


def test_tool_images_follow_the_whole_tool_run_in_one_user_message() -> None:
    req = Request(
        model="m",
        messages=[
            Message("user", [Text("look")]),
            Message("assistant", [ToolCall("t1", "shot", "{}"), ToolCall("t2", "read", "{}")]),
            Message("user", [ToolResult("t1", [Text("here"), Media("image/png", data=PNG)])]),
            Message("user", [ToolResult("t2", [Text("file text")], is_error=True)]),
            Message("assistant", [Text("done")]),
        ],
    )
    messages = render(req)["messages"]
    assert [m["role"] for m in messages] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
        "assistant",
    ]
    assert messages[2] == {"role": "tool", "tool_call_id": "t1", "content": "here"}
    assert messages[3] == {"role": "tool", "tool_call_id": "t2", "content": "Error: file text"}
    assert messages[4]["content"] == [
        {"type": "text", "text": "(images returned by tool call t1)"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    assert any("t1" in w for w in req.warnings)


def test_image_only_tool_result_still_tells_the_model_something() -> None:
    req = Request(
        model="m",
        messages=[
            Message("assistant", [ToolCall("t1", "shot", "{}")]),
            Message(
                "user",
                [ToolResult("t1", [Media("image/png", url="https://x.test/a.png")]), Text("and?")],
            ),
        ],
    )
    messages = render(req)["messages"]
    assert messages[1]["content"] == "(images follow in the next message)"
    assert messages[2]["content"][-1] == {"type": "text", "text": "and?"}


def test_tool_result_without_a_call_is_kept_with_a_warning() -> None:
    req = Request(model="m", messages=[Message("user", [ToolResult("orphan", [Text("x")])])])
    assert render(req)["messages"] == [{"role": "tool", "tool_call_id": "orphan", "content": "x"}]
    assert any("orphan" in w for w in req.warnings)


def test_foreign_reasoning_never_leaks_into_reasoning_content() -> None:
    req = Request(
        model="m",
        messages=[
            Message(
                "assistant",
                [
                    Reasoning("claude thoughts", meta={"anthropic": {"signature": "sig"}}),
                    Reasoning("deepseek thoughts", meta={"openai-chat": {}}),
                    ToolCall("c", "f", '{"x":1}'),
                ],
            )
        ],
    )
    message = render(req)["messages"][0]
    assert message == {
        "role": "assistant",
        "content": None,
        "reasoning_content": "deepseek thoughts",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
        ],
    }
    assert any("reasoning" in w for w in req.warnings)


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        (
            Media("image/jpeg", url="https://x.test/a.jpg", detail="high"),
            {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg", "detail": "high"}},
        ),
        (
            Media("application/pdf", data="JVBE", filename="r.pdf"),
            {
                "type": "file",
                "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "r.pdf"},
            },
        ),
        (
            Media("application/pdf", data="JVBE"),
            {
                "type": "file",
                "file": {
                    "file_data": "data:application/pdf;base64,JVBE",
                    "filename": "document.pdf",
                },
            },
        ),
        (
            Media("audio/wav", data="UklG"),
            {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
        ),
        (Media("text/plain", data="aGVsbG8="), {"type": "text", "text": "hello"}),
    ],
)
def test_media_rendering(media: Media, expected: dict[str, Any]) -> None:
    req = Request(model="m", messages=[Message("user", [Text("see"), media])])
    assert render(req)["messages"][0]["content"][1] == expected


@pytest.mark.parametrize(
    "media",
    [Media("application/pdf", url="https://x.test/a.pdf"), Media("audio/flac", data="AAAA")],
)
def test_media_chat_cannot_take_becomes_a_note_with_a_warning(media: Media) -> None:
    req = Request(model="m", messages=[Message("user", [Text("see"), media])])
    assert render(req)["messages"][0]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "text", "text": f"[attachment ({media.media_type}) omitted]"},
    ]
    assert req.warnings


@pytest.mark.parametrize(
    ("reasoning", "field", "effort"),
    [
        (None, "max_tokens", None),
        (ReasoningConfig(effort="low"), "max_completion_tokens", "low"),
        (ReasoningConfig(budget_tokens=10000), "max_completion_tokens", "medium"),
        (ReasoningConfig(budget_tokens=30000), "max_completion_tokens", "xhigh"),
        (ReasoningConfig(effort="max"), "max_completion_tokens", "xhigh"),
        (ReasoningConfig(adaptive=True), "max_completion_tokens", None),
        (ReasoningConfig(enabled=False), "max_tokens", None),
        (ReasoningConfig(enabled=False, effort="none"), "max_tokens", "none"),
    ],
)
def test_max_tokens_field_and_reasoning_effort(
    reasoning: ReasoningConfig | None, field: str, effort: str | None
) -> None:
    body = render(Request(model="m", max_tokens=500, reasoning=reasoning))
    assert body[field] == 500
    assert ({"max_tokens", "max_completion_tokens"} - {field}).isdisjoint(body)
    assert body.get("reasoning_effort") == effort


def test_client_max_completion_tokens_is_kept_without_reasoning() -> None:
    body = render(parse(max_completion_tokens=64))
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


def test_stream_always_asks_for_usage() -> None:
    body = render(Request(model="m", stream=True, include_usage=False))
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "stream" not in render(Request(model="m"))


def test_what_chat_cannot_say_is_dropped_with_warnings() -> None:
    req = Request(
        model="m",
        stop=["a", "b", "c", "d", "e"],
        top_k=40,
        tool_choice=ToolChoice("required"),
        parallel_tool_calls=True,
        tools=[
            Tool("web_search", kind="builtin", meta={"anthropic": {"type": "web_search_20250305"}})
        ],
        previous_response_id="resp_1",
    )
    body = render(req)
    assert body["stop"] == ["a", "b", "c", "d"]
    assert not {"top_k", "tools", "tool_choice", "parallel_tool_calls"} & set(body)
    assert len(req.warnings) == 4


def test_named_tool_choice_uses_the_tool_kind() -> None:
    req = Request(
        model="m",
        tools=[Tool("patch", kind="custom")],
        tool_choice=ToolChoice("tool", "patch"),
        meta={"openai-chat": {"custom_tools": True}},  # a chat client's own custom tool
    )
    assert render(req)["tool_choice"] == {"type": "custom", "custom": {"name": "patch"}}


def test_another_clients_custom_tools_are_offered_as_functions() -> None:
    """Codex's freeform `exec` must reach DeepSeek & co. as a function of one string."""
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    req = Request(
        model="m",
        messages=[
            Message("user", [Text("run it")]),
            Message("assistant", [ToolCall("c1", "exec", "ls -l 'a b'", kind="custom")]),
            Message("user", [ToolResult("c1", [Text("ok")], name="exec", kind="custom")]),
        ],
        tools=[Tool("exec", "Run code.", kind="custom", custom_format=grammar)],
        tool_choice=ToolChoice("tool", "exec"),
    )
    body = render(req)
    (tool,) = body["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["parameters"]["properties"] == {"input": {"type": "string"}}
    assert tool["function"]["description"].startswith("Run code.")
    assert "start: /.+/" in tool["function"]["description"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "exec"}}
    call = body["messages"][1]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "exec"
    assert json.loads(call["function"]["arguments"]) == {"input": "ls -l 'a b'"}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "ok"}


CLIENT_BODY: dict[str, Any] = {
    "model": "deepseek-reasoner",
    "messages": [
        {"role": "developer", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is here?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/p.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I should look",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": "{}"},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"z":2}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "call_2", "content": "a hat"},
        {"role": "assistant", "content": "A cat in a hat.", "refusal": "not more"},
        {"role": "system", "content": "mid-conversation rule"},
        {"role": "user", "content": "thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "look", "parameters": {"type": "object"}, "strict": False},
        },
        {"type": "custom", "custom": {"name": "sh", "description": "shell"}},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "max_completion_tokens": 300,
    "temperature": 0.2,
    "top_p": 1,
    "stop": ["\n\n"],
    "seed": 3,
    "user": "me",
    "reasoning_effort": "medium",
    "response_format": {"type": "json_object"},
    "stream": True,
    "stream_options": {"include_usage": True},
    "logprobs": True,
    "service_tier": "flex",
}


def test_a_client_body_survives_parse_and_render_unchanged() -> None:
    """Same format on both sides with a model rewrite must not change the request."""
    request = FORMAT.parse_request(copy.deepcopy(CLIENT_BODY))
    assert render(request) == CLIENT_BODY
    assert request.warnings == []


ROUND_TRIP = [
    Request(model="m", system=[Text("sys")], messages=[Message("user", [Text("hi")])]),
    Request(
        model="m",
        messages=[
            Message("user", [Text("a"), Media("image/png", data=PNG, detail="auto")]),
            Message(
                "assistant",
                [
                    Reasoning("r", meta={"openai-chat": {}}),
                    Text("t"),
                    ToolCall("c1", "f", '{"a":1}'),
                    ToolCall("c2", "g", "raw", kind="custom"),
                ],
            ),
            Message(
                "user",
                [
                    ToolResult("c1", [Text("1")], name="f"),
                    ToolResult("c2", [Text("2")], name="g", kind="custom"),
                ],
            ),
            Message("system", [Text("be nice")]),
            Message("assistant", []),
        ],
        tools=[
            Tool("f", "does f", {"type": "object", "properties": {}}, strict=True),
            Tool("g", kind="custom", custom_format={"type": "grammar"}),
        ],
        tool_choice=ToolChoice("tool", "f"),
        parallel_tool_calls=False,
        max_tokens=10,
        temperature=1.0,
        stop=["x"],
        stream=True,
        include_usage=True,
        reasoning=ReasoningConfig(effort="minimal"),
        response_format=ResponseFormat("json_schema", {"type": "object"}, "out", True, "desc"),
        meta={"openai-chat": {"max_tokens_field": "max_completion_tokens", "custom_tools": True}},
    ),
]


@pytest.mark.parametrize("request_", ROUND_TRIP)
def test_canonical_round_trip(request_: Request) -> None:
    assert FORMAT.parse_request(render(copy.deepcopy(request_))) == request_
