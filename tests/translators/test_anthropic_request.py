"""Anthropic request bodies: parsing what clients send (Claude Code first)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic_helpers import CLAUDE_CODE, PNG, parse, render
from omniroute_mitm.translators.anthropic import FORMAT
from omniroute_mitm.translators.canonical import (
    Media,
    Opaque,
    Reasoning,
    Text,
    ToolCall,
    ToolChoice,
    ToolResult,
    TranslationError,
    WebSearchCall,
)

# -------------------------------------------------------------------- parsing


def test_claude_code_request_parses() -> None:
    request = parse(CLAUDE_CODE)
    assert (request.model, request.max_tokens, request.stream) == ("claude-sonnet-4-5", 64000, True)
    assert [t.text for t in request.system][1] == "You are Claude Code."
    assert request.system[2].cache_control == {"type": "ephemeral", "scope": "global"}
    assert request.messages[0].role == "system"
    assert request.messages[0].parts == [Text("Deferred tools: WebFetch")]
    thinking, _, call = request.messages[2].parts
    assert isinstance(thinking, Reasoning) and thinking.meta == {
        "anthropic": {"signature": "EqQBsig"}
    }
    assert call == ToolCall("toolu_01", "Bash", '{"command":"ls"}')
    result = request.messages[3].parts[0]
    assert isinstance(result, ToolResult)
    assert result.name == "Bash"  # looked up from the call (Gemini needs it)
    assert result.content == [Text("a.py"), Media("image/png", data=PNG)]
    assert request.tools[1].kind == "builtin" and request.tools[1].name == "web_search"
    assert request.reasoning is not None
    assert (request.reasoning.adaptive, request.reasoning.effort) == (True, "high")
    assert request.user == "user_abc"
    assert request.tool_choice == ToolChoice("auto")


def test_claude_code_request_survives_a_round_trip() -> None:
    body = render(parse(CLAUDE_CODE))
    want = copy.deepcopy(CLAUDE_CODE)
    del want["context_management"]  # no canonical meaning: ignored
    system_message = want["messages"].pop(0)
    reminder = f"<system-reminder>\n{system_message['content']}\n</system-reminder>"
    want["messages"][0]["content"].insert(0, {"type": "text", "text": reminder})
    del want["messages"][2]["content"][0]["is_error"]  # false is the default
    assert body == want


@pytest.mark.parametrize(
    ("block", "part"),
    [
        ({"type": "text", "text": "hi"}, Text("hi")),
        (
            {"type": "image", "source": {"type": "url", "url": "https://x/y.webp?s=1"}},
            Media("image/webp", url="https://x/y.webp?s=1"),
        ),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                "title": "a.pdf",
            },
            Media("application/pdf", data="JVBE", filename="a.pdf"),
        ),
        (
            {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
            Media("application/pdf", url="https://x/a.pdf"),
        ),
        (
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
            },
            Media("text/plain", data="aMOpbGxv"),
        ),
        (
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
            Opaque("anthropic", {"type": "image", "source": {"type": "file", "file_id": "file_1"}}),
        ),
        (
            {"type": "redacted_thinking", "data": "EmwK"},
            Reasoning("", meta={"anthropic": {"data": "EmwK"}}),
        ),
        (
            {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {"query": "q"},
            },
            WebSearchCall(
                "srvtoolu_1",
                "web_search",
                query="q",
                meta={
                    "anthropic": {
                        "block": {
                            "type": "server_tool_use",
                            "id": "srvtoolu_1",
                            "name": "web_search",
                            "input": {"query": "q"},
                        }
                    }
                },
            ),
        ),
        (
            {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
            ToolResult("t1", [Text("boom")], is_error=True),
        ),
    ],
)
def test_content_blocksparse(block: dict[str, Any], part: Any) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [block]}]}
    assert parse(body).messages[0].parts == [part]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"messages": []}, "model"),
        ({"model": "m", "messages": {}}, "messages"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"text": "no type"}]}]},
            "messages[0].content[0].type",
        ),
        ({"model": "m", "messages": [], "tool_choice": {"type": "maybe"}}, "tool_choice.type"),
        ({"model": "m", "messages": [], "system": [{"type": "image"}]}, "system[0].type"),
        ({"model": "m", "messages": [], "max_tokens": "many"}, "max_tokens"),
        (
            {"model": "m", "messages": [], "output_config": {"effort": "huge"}},
            "output_config.effort",
        ),
    ],
)
def test_invalid_input_names_the_field(body: dict[str, Any], path: str) -> None:
    with pytest.raises(TranslationError) as exc:
        FORMAT.parse_request(body)
    assert exc.value.path == path


@pytest.mark.parametrize(
    ("thinking", "enabled", "budget", "adaptive"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, True, 2048, False),
        ({"type": "adaptive"}, True, None, True),
        ({"type": "disabled"}, False, None, False),
    ],
)
def test_thinking_parses(
    thinking: dict[str, Any], enabled: bool, budget: Any, adaptive: bool
) -> None:
    config = parse({"model": "m", "messages": [], "thinking": thinking}).reasoning
    assert config is not None
    assert (config.enabled, config.budget_tokens, config.adaptive) == (enabled, budget, adaptive)


@pytest.mark.parametrize(
    ("choice", "mode", "name", "parallel"),
    [
        ({"type": "auto"}, "auto", None, None),
        ({"type": "any", "disable_parallel_tool_use": True}, "required", None, False),
        ({"type": "tool", "name": "Bash"}, "tool", "Bash", None),
        ({"type": "none"}, "none", None, None),
    ],
)
def test_tool_choice_round_trips(
    choice: dict[str, Any], mode: str, name: Any, parallel: Any
) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    body["tools"] = [{"name": "Bash", "input_schema": {"type": "object", "properties": {}}}]
    body["tool_choice"] = choice
    request = parse(body)
    assert request.tool_choice == ToolChoice(mode, name)  # type: ignore[arg-type]
    assert request.parallel_tool_calls == parallel
    assert render(request)["tool_choice"] == choice


def test_structured_output_config_parses() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {
        "model": "m",
        "messages": [],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    request = parse(body)
    assert request.response_format is not None and request.response_format.schema == schema


@pytest.mark.parametrize("order", ["result first", "call first"])
def test_a_tool_result_is_named_after_the_calls_before_it(order):
    """A result takes the name of the last call of its id before it, even a
    call later in its own message (a malformed turn) does not rename it."""
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    call = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}
    blocks = [result, call] if order == "result first" else [call, result]
    request = FORMAT.parse_request({
        "model": "m", "max_tokens": 10,
        "messages": [
            {"role": "assistant", "content": [{**call, "name": "Read"}]},
            {"role": "user", "content": blocks},
        ],
    })  # fmt: skip
    (named,) = [p for p in request.messages[1].parts if isinstance(p, ToolResult)]
    assert named.name == ("Read" if order == "result first" else "Bash")
