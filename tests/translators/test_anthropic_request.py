"""Anthropic request bodies: parsing what clients send (Claude Code first),
and rendering canonical requests into bodies Anthropic accepts."""

from __future__ import annotations

import copy
import inspect
import json
from typing import Any

import anthropic
import pytest

from translators.anthropic import FORMAT
from translators.canonical import (
    Media,
    Opaque,
    Reasoning,
    Request,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    TranslationError,
    counting_env,
)

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
SIGNED = {"type": "thinking", "thinking": "I should list files.", "signature": "EqQBsig"}

# A request shaped like Claude Code's (see shared/CLIENTS.md), fields that
# have no canonical meaning included.
CLAUDE_CODE: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64000,
    "stream": True,
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc"},
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {
            "type": "text",
            "text": "Tools policy.",
            "cache_control": {"type": "ephemeral", "scope": "global"},
        },
    ],
    "messages": [
        {"role": "system", "content": "Deferred tools: WebFetch"},
        {"role": "user", "content": [{"type": "text", "text": "list files"}]},
        {
            "role": "assistant",
            "content": [
                SIGNED,
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [
                        {"type": "text", "text": "a.py"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                    ],
                    "is_error": False,
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "high"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "metadata": {"user_id": "user_abc"},
}


def _parse(body: dict[str, Any]) -> Request:
    return FORMAT.parse_request(copy.deepcopy(body))


def _render(request: Request) -> dict[str, Any]:
    return FORMAT.render_request(request, counting_env())


# -------------------------------------------------------------------- parsing


def test_claude_code_request_parses() -> None:
    request = _parse(CLAUDE_CODE)
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
    body = _render(_parse(CLAUDE_CODE))
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
            Opaque(
                "anthropic",
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"query": "q"},
                },
            ),
        ),
        (
            {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
            ToolResult("t1", [Text("boom")], is_error=True),
        ),
    ],
)
def test_content_blocks_parse(block: dict[str, Any], part: Any) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [block]}]}
    assert _parse(body).messages[0].parts == [part]


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
    config = _parse({"model": "m", "messages": [], "thinking": thinking}).reasoning
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
    request = _parse(body)
    assert request.tool_choice == ToolChoice(mode, name)  # type: ignore[arg-type]
    assert request.parallel_tool_calls == parallel
    assert _render(request)["tool_choice"] == choice


def test_structured_output_config_parses() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {
        "model": "m",
        "messages": [],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    request = _parse(body)
    assert request.response_format is not None and request.response_format.schema == schema


# ------------------------------------------------------------------ rendering


def _user(*parts: Any) -> Any:
    from translators.canonical import Message

    return Message("user", list(parts))


def _assistant(*parts: Any) -> Any:
    from translators.canonical import Message

    return Message("assistant", list(parts))


def test_rendered_keys_are_known_to_the_sdk() -> None:
    known = set(inspect.signature(anthropic.resources.Messages.create).parameters)
    # Sampling knobs: still accepted by the API, absent from SDK 2.11's signature.
    known |= {"temperature", "top_p", "top_k"}
    request = _parse(CLAUDE_CODE)
    request.stop, request.temperature = ["END"], 1.0
    assert set(_render(request)) <= known


def test_max_tokens_defaults_to_8192() -> None:
    assert _render(Request("m", [_user(Text("x"))]))["max_tokens"] == 8192


def test_mid_conversation_system_message_joins_the_user_turn_after_results() -> None:
    from translators.canonical import Message

    request = Request(
        "m",
        [
            _user(Text("go")),
            _assistant(ToolCall("t1", "ls", "{}")),
            Message("system", [Text("Be brief.")]),
            _user(ToolResult("t1", [Text("ok")]), Text("thanks")),
        ],
    )
    messages = _render(request)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    blocks = messages[2]["content"]
    assert blocks[0]["type"] == "tool_result"
    assert blocks[1] == {"type": "text", "text": "<system-reminder>\nBe brief.\n</system-reminder>"}
    assert blocks[2] == {"type": "text", "text": "thanks"}


def test_missing_and_orphan_tool_results_are_repaired() -> None:
    request = Request(
        "m",
        [
            _user(ToolResult("ghost", [Text("from nowhere")]), Text("hi")),
            _assistant(ToolCall("t1", "a", "{}"), ToolCall("t2", "b", "{}")),
            _user(ToolResult("t2", [Text("two")])),
            _assistant(ToolCall("t3", "c", "{}")),
        ],
    )
    messages = _render(request)["messages"]
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
    from translators.canonical import ReasoningConfig

    thought = Reasoning(
        "hmm",
        meta={"anthropic": {"signature": "sig"}}
        if history_signed
        else {"gemini": {"thoughtSignature": "x"}},
    )
    return Request(
        "m",
        [
            _user(Text("q")),
            _assistant(thought, ToolCall("t1", "ls", "{}")),
            _user(ToolResult("t1", [Text("ok")])),
        ],
        max_tokens=4096,
        temperature=0.2,
        top_k=5,
        reasoning=ReasoningConfig(effort="high"),
    )


def test_thinking_renders_a_budget_below_max_tokens_and_drops_sampling() -> None:
    request = _thinking_request(history_signed=True)
    body = _render(request)
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
    body = _render(request)
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
def test_reasoning_configs_render(
    config: dict[str, Any], thinking: Any, output_config: Any
) -> None:
    from translators.canonical import ReasoningConfig

    request = Request("m", [_user(Text("q"))], reasoning=ReasoningConfig(**config))
    body = _render(request)
    assert body.get("thinking") == thinking
    assert body.get("output_config") == output_config


def test_forced_tool_choice_turns_thinking_off() -> None:
    from translators.canonical import ReasoningConfig

    request = Request(
        "m",
        [_user(Text("q"))],
        tools=[Tool("f", parameters={"type": "object", "properties": {}})],
        tool_choice=ToolChoice("tool", "f"),
        reasoning=ReasoningConfig(budget_tokens=2048),
    )
    body = _render(request)
    assert "thinking" not in body and body["tool_choice"] == {"type": "tool", "name": "f"}


def test_at_most_four_cache_markers_and_the_latest_are_kept() -> None:
    mark = {"type": "ephemeral"}
    opaque = Opaque("anthropic", {"type": "search_result", "cache_control": mark})
    request = Request(
        "m",
        [
            _user(Text("a", cache_control=mark), opaque),
            _assistant(Text("b", cache_control=mark)),
            _user(Text("c", cache_control=mark)),
        ],
        system=[Text("s1", cache_control=mark), Text("s2", cache_control=mark)],
        tools=[Tool("f", cache_control=mark)],
    )
    body = _render(request)
    assert "cache_control" not in body["tools"][0]
    assert all("cache_control" not in b for b in body["system"])
    kept = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
    assert [b.get("text", b["type"]) for b in kept] == ["a", "search_result", "b", "c"]
    assert opaque.data["cache_control"] == mark  # the canonical request is untouched
    assert any("cache_control" in w for w in request.warnings)


def test_custom_tools_become_input_string_functions() -> None:
    from translators.canonical import Message

    request = Request(
        "m",
        [
            Message("user", [Text("patch it")]),
            _assistant(ToolCall("c1", "apply_patch", "*** Begin Patch", kind="custom")),
            _user(ToolResult("c1", [Text("done")], kind="custom")),
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
    body = _render(request)
    tool = body["tools"][0]
    assert tool["input_schema"]["properties"] == {"input": {"type": "string"}}
    assert "start: x" in tool["description"]
    assert body["messages"][1]["content"][0]["input"] == {"input": "*** Begin Patch"}


def test_builtin_tools_go_back_only_to_anthropic() -> None:
    request = _parse(CLAUDE_CODE)
    request.tools.append(
        Tool("google_search", kind="builtin", meta={"gemini": {"googleSearch": {}}})
    )
    tools = _render(request)["tools"]
    assert tools[1] == {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    assert len(tools) == 2
    assert any("google_search" in w for w in request.warnings)


def test_structured_output_becomes_a_system_instruction() -> None:
    from translators.canonical import ResponseFormat

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    request = Request(
        "m",
        [_user(Text("count"))],
        system=[Text("Be exact.", cache_control={"type": "ephemeral"})],
        response_format=ResponseFormat("json_schema", schema=schema, name="count"),
    )
    system = _render(request)["system"]
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
    body = _render(Request("m", [_user(Text("x"))], temperature=temperature, top_p=top_p))
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
    assert _render(Request("m", [_user(part)]))["messages"][0]["content"] == [block]


def test_parallel_tool_calls_off_and_bad_arguments() -> None:
    request = Request(
        "m",
        [_user(Text("q")), _assistant(ToolCall("t1", "f", "{not json")), _user(ToolResult("t1"))],
        tools=[Tool("f")],
        parallel_tool_calls=False,
    )
    body = _render(request)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
    assert body["messages"][1]["content"][0]["input"] == {}
    assert any("not a JSON object" in w for w in request.warnings)


def test_blank_text_and_empty_turns_are_dropped() -> None:
    request = Request(
        "m",
        [
            _user(Text("a")),
            _assistant(Text("  ")),
            _user(Text(""), Text("b")),
            _assistant(Media("image/png", data="AA")),
        ],
    )
    messages = _render(request)["messages"]
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
