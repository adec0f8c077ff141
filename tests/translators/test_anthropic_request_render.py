"""Rendering canonical requests into bodies Anthropic accepts: the repairs
and approximations Anthropic's strictness needs, each with a warning."""

from __future__ import annotations

import inspect
import json
from typing import Any

import anthropic
import pytest
from anthropic_helpers import CLAUDE_CODE, assistant, parse, render, user
from omniroute_mitm.translators.canonical import (
    Media,
    Message,
    Opaque,
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


def test_rendered_keys_are_known_to_the_sdk() -> None:
    known = set(inspect.signature(anthropic.resources.Messages.create).parameters)
    # Sampling knobs: still accepted by the API, absent from SDK 2.11's signature.
    known |= {"temperature", "top_p", "top_k"}
    request = parse(CLAUDE_CODE)
    request.stop, request.temperature = ["END"], 1.0
    assert set(render(request)) <= known


def test_max_tokens_defaults_to_8192() -> None:
    assert render(Request("m", [user(Text("x"))]))["max_tokens"] == 8192


def test_mid_conversation_system_message_joins_the_user_turn_after_results() -> None:
    request = Request(
        "m",
        [
            user(Text("go")),
            assistant(ToolCall("t1", "ls", "{}")),
            Message("system", [Text("Be brief.")]),
            user(ToolResult("t1", [Text("ok")]), Text("thanks")),
        ],
    )
    messages = render(request)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    blocks = messages[2]["content"]
    assert blocks[0]["type"] == "tool_result"
    assert blocks[1] == {"type": "text", "text": "<system-reminder>\nBe brief.\n</system-reminder>"}
    assert blocks[2] == {"type": "text", "text": "thanks"}


def test_missing_and_orphan_tool_results_are_repaired() -> None:
    request = Request(
        "m",
        [
            user(ToolResult("ghost", [Text("from nowhere")]), Text("hi")),
            assistant(ToolCall("t1", "a", "{}"), ToolCall("t2", "b", "{}")),
            user(ToolResult("t2", [Text("two")])),
            assistant(ToolCall("t3", "c", "{}")),
        ],
    )
    messages = render(request)["messages"]
    assert messages[0]["content"][0] == {
        "type": "text",
        "text": "[tool result ghost]\nfrom nowhere",
    }
    results = messages[2]["content"]
    assert [(b["tool_use_id"], b.get("is_error", False)) for b in results] == [
        ("t2", False),
        ("t1", True),
    ]
    assert results[1]["content"] == "tool result missing"
    assert messages[-1] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "t3",
                "is_error": True,
                "content": "tool result missing",
            }
        ],
    }
    assert any("t1" in w for w in request.warnings) and any("ghost" in w for w in request.warnings)


def _thinking_request(history_signed: bool) -> Request:
    thought = Reasoning(
        "hmm",
        meta={"anthropic": {"signature": "sig"}}
        if history_signed
        else {"gemini": {"thoughtSignature": "x"}},
    )
    return Request(
        "m",
        [
            user(Text("q")),
            assistant(thought, ToolCall("t1", "ls", "{}")),
            user(ToolResult("t1", [Text("ok")])),
        ],
        max_tokens=4096,
        temperature=0.2,
        top_k=5,
        reasoning=ReasoningConfig(effort="high"),
    )


def test_thinking_renders_a_budget_below_max_tokens_and_drops_sampling() -> None:
    request = _thinking_request(history_signed=True)
    body = render(request)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert body["max_tokens"] > 16384
    assert "temperature" not in body and "top_k" not in body
    assert body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "hmm",
        "signature": "sig",
    }
    assert any("temperature" in w for w in request.warnings)


def test_thinking_is_left_off_when_history_has_foreign_tool_turns() -> None:
    request = _thinking_request(history_signed=False)
    body = render(request)
    assert "thinking" not in body
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "ls", "input": {}}
    ]
    assert body["temperature"] == 0.2
    assert any("thinking left off" in w for w in request.warnings)
    assert any("not issued by Anthropic" in w for w in request.warnings)


@pytest.mark.parametrize(
    ("config", "thinking", "output_config"),
    [
        ({"budget_tokens": 100}, {"type": "enabled", "budget_tokens": 1024}, None),
        ({"adaptive": True, "effort": "max"}, {"type": "adaptive"}, {"effort": "max"}),
        ({"adaptive": True, "effort": "minimal"}, {"type": "adaptive"}, {"effort": "low"}),
        ({"enabled": False}, {"type": "disabled"}, None),
        ({"effort": "none"}, {"type": "disabled"}, None),
    ],
)
def test_reasoning_configsrender(config: dict[str, Any], thinking: Any, output_config: Any) -> None:
    request = Request("m", [user(Text("q"))], reasoning=ReasoningConfig(**config))
    body = render(request)
    assert body.get("thinking") == thinking
    assert body.get("output_config") == output_config


def test_forced_tool_choice_turns_thinking_off() -> None:
    request = Request(
        "m",
        [user(Text("q"))],
        tools=[Tool("f", parameters={"type": "object", "properties": {}})],
        tool_choice=ToolChoice("tool", "f"),
        reasoning=ReasoningConfig(budget_tokens=2048),
    )
    body = render(request)
    assert "thinking" not in body and body["tool_choice"] == {"type": "tool", "name": "f"}


def test_at_most_four_cache_markers_and_the_latest_are_kept() -> None:
    mark = {"type": "ephemeral"}
    opaque = Opaque("anthropic", {"type": "search_result", "cache_control": mark})
    request = Request(
        "m",
        [
            user(Text("a", cache_control=mark), opaque),
            assistant(Text("b", cache_control=mark)),
            user(Text("c", cache_control=mark)),
        ],
        system=[Text("s1", cache_control=mark), Text("s2", cache_control=mark)],
        tools=[Tool("f", cache_control=mark)],
    )
    body = render(request)
    assert "cache_control" not in body["tools"][0]
    assert all("cache_control" not in b for b in body["system"])
    kept = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
    assert [b.get("text", b["type"]) for b in kept] == ["a", "search_result", "b", "c"]
    assert opaque.data["cache_control"] == mark  # the canonical request is untouched
    assert any("cache_control" in w for w in request.warnings)


def test_custom_tools_become_input_string_functions() -> None:
    request = Request(
        "m",
        [
            Message("user", [Text("patch it")]),
            assistant(ToolCall("c1", "apply_patch", "*** Begin Patch", kind="custom")),
            user(ToolResult("c1", [Text("done")], kind="custom")),
        ],
        tools=[
            Tool(
                "apply_patch",
                "Apply a patch",
                kind="custom",
                custom_format={"type": "grammar", "syntax": "lark", "definition": "start: x"},
            )
        ],
    )
    body = render(request)
    tool = body["tools"][0]
    assert tool["input_schema"]["properties"] == {"input": {"type": "string"}}
    assert "start: x" in tool["description"]
    assert body["messages"][1]["content"][0]["input"] == {"input": "*** Begin Patch"}


def test_builtin_tools_go_back_only_to_anthropic() -> None:
    request = parse(CLAUDE_CODE)
    request.tools.append(
        Tool("google_search", kind="builtin", meta={"gemini": {"googleSearch": {}}})
    )
    tools = render(request)["tools"]
    assert tools[1] == {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    assert len(tools) == 2
    assert any("google_search" in w for w in request.warnings)


def test_structured_output_becomes_a_system_instruction() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    request = Request(
        "m",
        [user(Text("count"))],
        system=[Text("Be exact.", cache_control={"type": "ephemeral"})],
        response_format=ResponseFormat("json_schema", schema=schema, name="count"),
    )
    system = render(request)["system"]
    assert system[0] == {
        "type": "text",
        "text": "Be exact.",
        "cache_control": {"type": "ephemeral"},
    }
    assert json.dumps(schema, separators=(",", ":")) in system[1]["text"]
    assert "JSON" in system[1]["text"]


@pytest.mark.parametrize(
    ("temperature", "top_p", "want"),
    [
        (1.6, None, {"temperature": 1.0}),
        (0.5, 0.9, {"temperature": 0.5}),
        (None, 0.9, {"top_p": 0.9}),
    ],
)
def test_sampling_is_made_acceptable(temperature: Any, top_p: Any, want: dict[str, Any]) -> None:
    body = render(Request("m", [user(Text("x"))], temperature=temperature, top_p=top_p))
    assert {k: body[k] for k in ("temperature", "top_p") if k in body} == want


@pytest.mark.parametrize(
    ("part", "block"),
    [
        (
            Media("image/png", url="data:image/png;base64,AAAA"),
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
            },
        ),
        (
            Media("image/jpeg", url="https://x/cat.jpg"),
            {"type": "image", "source": {"type": "url", "url": "https://x/cat.jpg"}},
        ),
        (
            Media("text/markdown", data="aMOpbGxv", filename="n.md"),
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
                "title": "n.md",
            },
        ),
        (
            Media("audio/wav", data="UklG"),
            {"type": "text", "text": "[attachment (audio/wav) omitted]"},
        ),
    ],
)
def test_media_renders(part: Media, block: dict[str, Any]) -> None:
    assert render(Request("m", [user(part)]))["messages"][0]["content"] == [block]


def test_parallel_tool_calls_off_and_bad_arguments() -> None:
    request = Request(
        "m",
        [user(Text("q")), assistant(ToolCall("t1", "f", "{not json")), user(ToolResult("t1"))],
        tools=[Tool("f")],
        parallel_tool_calls=False,
    )
    body = render(request)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
    assert body["messages"][1]["content"][0]["input"] == {}
    assert any("not a JSON object" in w for w in request.warnings)


def test_blank_text_and_empty_turns_are_dropped() -> None:
    request = Request(
        "m",
        [
            user(Text("a")),
            assistant(Text("  ")),
            user(Text(""), Text("b")),
            assistant(Media("image/png", data="AA")),
        ],
    )
    messages = render(request)["messages"]
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
