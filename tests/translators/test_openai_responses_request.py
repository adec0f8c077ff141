"""openai-responses requests, parsing: what clients (Codex, the SDK) send
becomes the canonical request; bad input names the offending field."""

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
    Request,
    ResponseFormat,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    TranslationError,
    WebSearch,
    WebSearchCall,
    WebSearchResults,
    counting_env,
)
from omniroute_mitm.translators.openai_responses import FORMAT

NAME = "openai-responses"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)


def parse(**body: Any) -> Request:
    return FORMAT.parse_request({"model": "gpt-5", **body})


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


# ------------------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({"input": "hi"}, [Message("user", [Text("hi")])]),
        ({"input": [{"role": "user", "content": "easy"}]}, [Message("user", [Text("easy")])]),
        (
            {
                "input": [
                    user("q"),
                    {"role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
                    {"type": "message", "role": "developer", "content": "later rule"},
                    user("q2"),
                ]
            },
            [
                Message("user", [Text("q")]),
                Message("assistant", [Text("a")]),
                Message("system", [Text("later rule")]),
                Message("user", [Text("q2")]),
            ],
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                            {
                                "type": "input_image",
                                "image_url": "https://x/y.webp",
                                "detail": "high",
                            },
                            {
                                "type": "input_file",
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                                "filename": "a.pdf",
                            },
                        ],
                    }
                ]
            },
            [
                Message(
                    "user",
                    [
                        Media("image/png", data=PNG),
                        Media("image/webp", url="https://x/y.webp", detail="high"),
                        Media("application/pdf", data="JVBERi0=", filename="a.pdf"),
                    ],
                )
            ],
        ),
        (
            {"input": [{"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}]},
            [Message("assistant", [Refusal("no")])],
        ),
    ],
    ids=["string", "easy-message", "turns-and-late-developer", "media", "refusal"],
)
def test_parse_messages(body: dict[str, Any], messages: list[Message]) -> None:
    assert parse(**body).messages == messages


def test_instructions_and_leading_developer_messages_become_the_system_prompt() -> None:
    request = parse(
        instructions="be brief",
        input=[
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "A"}],
            },
            {"role": "system", "content": "B"},
            user("hi"),
        ],
    )
    assert [t.text for t in request.system] == ["be brief", "A", "B"]
    assert request.messages == [Message("user", [Text("hi")])]


def test_tool_round_trip_items_group_into_turns() -> None:
    request = parse(
        input=[
            user("weather?"),
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "ENC"},
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_a",
                "name": "w",
                "arguments": '{"c":1}',
            },
            {"type": "function_call", "call_id": "call_b", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "call_b",
                "output": [
                    {"type": "input_text", "text": "chart:"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            },
            user("thanks"),
        ]
    )
    assistant, results = request.messages[1], request.messages[2]
    assert [type(p).__name__ for p in assistant.parts] == ["Reasoning", "ToolCall", "ToolCall"]
    call_a = assistant.parts[1]
    assert call_a == ToolCall("call_a", "w", '{"c":1}', meta={NAME: {"id": "fc_1"}})
    assert results.role == "user"
    assert results.parts == [
        ToolResult("call_a", [Text("sunny")], name="w"),
        ToolResult("call_b", [Text("chart:"), Media("image/png", data=PNG)], name="w"),
        Text("thanks"),
    ]
    assert len(request.messages) == 3


def test_custom_tool_calls_and_legacy_error_outputs() -> None:
    request = parse(
        input=[
            {
                "type": "custom_tool_call",
                "call_id": "c1",
                "name": "apply_patch",
                "input": "*** Begin",
            },
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "done"},
            {"type": "function_call", "call_id": "c2", "name": "sh", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": {"content": "denied", "success": False},
            },
        ]
    )
    call, result = request.messages[0].parts[0], request.messages[1].parts[0]
    assert call == ToolCall("c1", "apply_patch", "*** Begin", kind="custom")
    assert result == ToolResult("c1", [Text("done")], name="apply_patch", kind="custom")
    assert request.messages[3].parts[0] == ToolResult("c2", [Text("denied")], True, name="sh")


def test_reasoning_item_keeps_what_is_needed_to_send_it_back() -> None:
    summary = [
        {"type": "summary_text", "text": "**Plan**\n\n"},
        {"type": "summary_text", "text": "go"},
    ]
    item = {"type": "reasoning", "id": "rs_9", "summary": summary, "encrypted_content": "gAAA"}
    part = parse(input=[item]).messages[0].parts[0]
    assert part == Reasoning(
        "**Plan**\n\ngo",
        meta={NAME: {"id": "rs_9", "summary": summary, "encrypted_content": "gAAA"}},
    )


def test_unknown_items_are_kept_opaque_for_this_format() -> None:
    ref = {"type": "item_reference", "id": "msg_1"}
    search = {"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": []}
    request = parse(input=[user("q"), search, ref])
    assert request.messages[1].parts == [Opaque(NAME, search), Opaque(NAME, ref)]


def test_web_search_call_items_become_web_parts_and_go_back_as_sent() -> None:
    search = {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {
            "type": "search",
            "query": "q",
            "sources": [{"type": "url", "url": "https://a"}],
        },
    }
    request = parse(input=[user("q"), search])
    call, found = request.messages[1].parts
    assert isinstance(call, WebSearchCall) and call.query == "q" and call.id == "ws_1"
    assert isinstance(found, WebSearchResults) and found.results[0].url == "https://a"
    again = FORMAT.render_request(request, counting_env())
    assert again["input"][1] == search and len(again["input"]) == 2


def test_codex_responses_lite_tools_are_flattened() -> None:
    exec_tool = {
        "type": "custom",
        "name": "exec",
        "description": "Run a command",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
    }
    spawn = {"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}
    request = parse(
        input=[
            {
                "type": "additional_tools",
                "role": "developer",
                "tools": [
                    {
                        "type": "namespace",
                        "name": "agents",
                        "description": "Sub-agents",
                        "tools": [spawn],
                    },
                    exec_tool,
                ],
            },
            {"type": "message", "role": "developer", "content": "You are Codex."},
            user("hi"),
        ],
        store=False,
        include=["reasoning.encrypted_content"],
        reasoning={"effort": "high", "summary": "auto"},
        prompt_cache_key="sess-1",
    )
    assert [t.text for t in request.system] == ["You are Codex."]
    assert request.tools == [
        Tool(
            "spawn_agent",
            parameters={"type": "object"},
            meta={NAME: {"namespace": "agents", "description": "Sub-agents"}},
        ),
        Tool("exec", "Run a command", kind="custom", custom_format=exec_tool["format"]),
    ]
    assert request.reasoning == ReasoningConfig(effort="high", summary="auto")
    assert request.store is False
    assert request.meta[NAME]["prompt_cache_key"] == "sess-1"


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (
            {
                "type": "function",
                "name": "f",
                "description": "d",
                "parameters": {"type": "object"},
                "strict": True,
            },
            Tool("f", "d", {"type": "object"}, strict=True),
        ),
        ({"type": "custom", "name": "patch"}, Tool("patch", kind="custom")),
        (
            {"type": "web_search", "search_context_size": "low"},
            Tool(
                "web_search",
                kind="builtin",
                meta={NAME: {"type": "web_search", "search_context_size": "low"}},
                server=WebSearch(context_size="low"),
            ),
        ),
    ],
    ids=["function", "custom", "builtin"],
)
def test_parse_tools(tool: dict[str, Any], expected: Tool) -> None:
    assert parse(tools=[tool]).tools == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("auto", ToolChoice("auto")),
        ("none", ToolChoice("none")),
        ("required", ToolChoice("required")),
        ({"type": "function", "name": "f"}, ToolChoice("tool", "f")),
        ({"type": "custom", "name": "exec"}, ToolChoice("tool", "exec")),
        ({"type": "allowed_tools", "mode": "required", "tools": []}, ToolChoice("required")),
        ({"type": "web_search"}, ToolChoice("tool", "web_search")),
    ],
)
def test_parse_tool_choice(raw: Any, expected: ToolChoice) -> None:
    assert parse(tool_choice=raw).tool_choice == expected


def test_parse_options() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = parse(
        input="x",
        max_output_tokens=500,
        temperature=0.2,
        top_p=0.9,
        parallel_tool_calls=False,
        stream=True,
        previous_response_id="resp_0",
        safety_identifier="u1",
        metadata={"k": "v"},
        text={"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
        reasoning={"effort": "none"},
    )
    assert (request.max_tokens, request.temperature, request.top_p) == (500, 0.2, 0.9)
    assert request.parallel_tool_calls is False and request.stream is True
    assert request.previous_response_id == "resp_0" and request.user == "u1"
    assert request.response_format == ResponseFormat("json_schema", schema, "out", True)
    assert request.reasoning == ReasoningConfig(enabled=False, effort="none")
    assert request.meta[NAME]["metadata"] == {"k": "v"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": ["hi"]}, "input[0]"),
        ({"input": 3}, "input"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"temperature": "hot"}, "temperature"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ],
)
def test_invalid_input_names_the_field(body: dict[str, Any], path: str) -> None:
    with pytest.raises(TranslationError) as exc:
        parse(**body)
    assert exc.value.path == path


def test_model_is_required_unless_given() -> None:
    with pytest.raises(TranslationError):
        FORMAT.parse_request({"input": "x"})
    assert FORMAT.parse_request({"input": "x"}, model="m", stream=True).model == "m"


def test_unknown_fields_are_ignored() -> None:
    request = parse(input="x", client_metadata={"a": 1}, future_field=[1, 2])
    assert request.messages == [Message("user", [Text("x")])]
