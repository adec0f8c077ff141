"""openai-chat requests: client body -> canonical -> provider body."""

from __future__ import annotations

from typing import Any

import pytest
from omniroute_mitm.translators.canonical import (
    Media,
    Message,
    Opaque,
    Reasoning,
    ReasoningConfig,
    Refusal,
    ResponseFormat,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    TranslationError,
)
from omniroute_mitm.translators.openai_chat import FORMAT
from openai_chat_helpers import PNG, parse, render

# ------------------------------------------------------------------ parsing


def test_leading_system_and_developer_go_to_system_later_ones_stay_in_place() -> None:
    req = parse(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "use tools"}]},
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": "now be verbose"},
        ]
    )
    assert [t.text for t in req.system] == ["be brief", "use tools"]
    assert req.system[1].meta == {"openai-chat": {"role": "developer"}}
    assert req.messages[1] == Message(
        "system", [Text("now be verbose")], meta={"openai-chat": {"role": "developer"}}
    )


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ({"type": "text", "text": "hello"}, Text("hello")),
        (
            {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "low"}},
            Media("image/png", url="https://x.test/cat.png", detail="low"),
        ),
        (
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            Media("image/png", data=PNG),
        ),
        (
            {"type": "image_url", "image_url": "https://x.test/a"},
            Media("image/jpeg", url="https://x.test/a"),
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}},
            Media("audio/mpeg", data="AAAA"),
        ),
        (
            {
                "type": "file",
                "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
            },
            Media("application/pdf", data="JVBE", filename="a.pdf"),
        ),
        (
            {"type": "file", "file": {"file_id": "file-123"}},
            Opaque("openai-chat", {"type": "file", "file": {"file_id": "file-123"}}),
        ),
        (
            {"type": "text", "text": "cached", "cache_control": {"type": "ephemeral"}},
            Text("cached", cache_control={"type": "ephemeral"}),
        ),
    ],
)
def test_user_content_parts(part: dict[str, Any], expected: Any) -> None:
    req = parse(messages=[{"role": "user", "content": [part]}])
    assert req.messages == [Message("user", [expected])]


def test_assistant_turn_keeps_reasoning_text_refusal_and_both_tool_kinds() -> None:
    req = parse(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "reasoning_content": "thinking",
                "content": "calling",
                "refusal": "partly not",
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    },
                    {
                        "id": "call_b",
                        "type": "custom",
                        "custom": {"name": "patch", "input": "*** x"},
                    },
                ],
            },
        ]
    )
    assert req.messages[1].parts == [
        Reasoning("thinking", meta={"openai-chat": {}}),
        Text("calling"),
        Refusal("partly not"),
        ToolCall("call_a", "f", "{}"),
        ToolCall("call_b", "patch", "*** x", kind="custom"),
    ]


def test_reasoning_field_variant_is_remembered_for_the_way_back() -> None:
    req = parse(messages=[{"role": "assistant", "reasoning": "hmm", "content": "ok"}])
    assert req.messages[0].parts[0] == Reasoning(
        "hmm", meta={"openai-chat": {"field": "reasoning"}}
    )
    assert render(req)["messages"][0] == {"role": "assistant", "content": "ok", "reasoning": "hmm"}


def test_consecutive_tool_messages_join_one_user_message_with_names() -> None:
    req = parse(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}},
                    {"id": "c2", "type": "custom", "custom": {"name": "sh", "input": "ls"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "a.txt"}]},
            {"role": "user", "content": "thanks"},
        ]
    )
    assert [m.role for m in req.messages] == ["user", "assistant", "user", "user"]
    assert req.messages[2].parts == [
        ToolResult("c1", [Text("sunny")], name="w"),
        ToolResult("c2", [Text("a.txt")], name="sh", kind="custom"),
    ]


def test_legacy_function_call_and_function_role_pair_up() -> None:
    req = parse(
        functions=[{"name": "f", "parameters": {"type": "object"}}],
        function_call={"name": "f"},
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "f", "arguments": "{}"},
            },
            {"role": "function", "name": "f", "content": "done"},
        ],
    )
    call = req.messages[1].parts[0]
    assert isinstance(call, ToolCall) and call.name == "f"
    assert req.messages[2].parts == [ToolResult(call.id, [Text("done")], name="f")]
    assert req.tools == [Tool("f", parameters={"type": "object"})]
    assert req.tool_choice == ToolChoice("tool", "f")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"messages": []}, "model"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "foo"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        (
            {"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]},
            "messages[0].role",
        ),
        ({"model": "m", "messages": [], "tool_choice": "sometimes"}, "tool_choice"),
        ({"model": "m", "messages": [], "reasoning_effort": "huge"}, "reasoning_effort"),
        ({"model": "m", "messages": [], "temperature": "hot"}, "temperature"),
        (
            {"model": "m", "messages": [], "response_format": {"type": "yaml"}},
            "response_format.type",
        ),
    ],
)
def test_invalid_input_names_the_field(body: dict[str, Any], path: str) -> None:
    with pytest.raises(TranslationError) as info:
        FORMAT.parse_request(body)
    assert info.value.path == path


def test_tools_and_choices() -> None:
    req = parse(
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
            },
            {"type": "custom", "custom": {"name": "g", "format": {"type": "text"}}},
            {"type": "web_search_preview"},
        ],
        tool_choice={"type": "custom", "custom": {"name": "g"}},
        parallel_tool_calls=False,
    )
    assert req.tools[:2] == [
        Tool("f", "d", {"type": "object"}, strict=True),
        Tool("g", kind="custom", custom_format={"type": "text"}),
    ]
    assert req.tools[2].kind == "builtin"
    assert req.tool_choice == ToolChoice("tool", "g")
    assert req.parallel_tool_calls is False


def test_allowed_tools_choice_offers_only_the_allowed_tools() -> None:
    req = parse(
        tools=[{"type": "function", "function": {"name": n}} for n in ("a", "b", "c")],
        tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "required",
                "tools": [{"type": "function", "function": {"name": "b"}}],
            },
        },
    )
    assert [t.name for t in req.tools] == ["b"]
    assert req.tool_choice == ToolChoice("tool", "b")


def test_sampling_reasoning_and_format_options() -> None:
    req = parse(
        max_tokens=100,
        max_completion_tokens=200,
        temperature=0.5,
        top_p=0.9,
        stop="END",
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        user="u1",
        stream=True,
        stream_options={"include_usage": True},
        reasoning_effort="high",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
        },
        some_future_field={"anything": 1},
    )
    assert (req.max_tokens, req.temperature, req.top_p, req.stop, req.seed) == (
        200,
        0.5,
        0.9,
        ["END"],
        7,
    )
    assert (req.presence_penalty, req.frequency_penalty, req.user) == (0.1, 0.2, "u1")
    assert req.stream and req.include_usage
    assert req.reasoning == ReasoningConfig(effort="high")
    assert req.response_format == ResponseFormat("json_schema", {"type": "object"}, "x", True)


def test_openrouter_reasoning_object() -> None:
    req = parse(reasoning={"max_tokens": 3000, "exclude": True})
    assert req.reasoning == ReasoningConfig(budget_tokens=3000, include_thoughts=False)
    assert parse(reasoning_effort="none").reasoning == ReasoningConfig(enabled=False, effort="none")
