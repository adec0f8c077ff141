"""openai-responses requests, rendering: canonical requests become valid
Responses bodies (nearest faithful form, with warnings), and round trips hold."""

from __future__ import annotations

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
    counting_env,
    unwrap_meta,
    wrap_meta,
)
from omniroute_mitm.translators.openai_responses import FORMAT

NAME = "openai-responses"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)


def parse(**body: Any) -> Request:
    return FORMAT.parse_request({"model": "gpt-5", **body})


def render(request: Request) -> dict[str, Any]:
    return FORMAT.render_request(request, counting_env())


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


# ------------------------------------------------------------------------ render


def test_store_is_false_unless_asked_and_encrypted_reasoning_is_included() -> None:
    request = Request(
        "gpt-5", [Message("user", [Text("hi")])], reasoning=ReasoningConfig(effort="low")
    )
    body = render(request)
    assert body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"] == {"effort": "low"}
    request.store = True
    body = render(request)
    assert body["store"] is True and "include" not in body


def test_system_prompt_single_and_multiple() -> None:
    body = render(Request("m", [Message("user", [Text("q")])], system=[Text("S")]))
    assert body["instructions"] == "S"
    body = render(Request("m", [Message("user", [Text("q")])], system=[Text("A"), Text("B")]))
    assert "instructions" not in body
    assert body["input"][0] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "A"}, {"type": "input_text", "text": "B"}],
    }


def test_render_conversation_with_tools_images_and_reasoning() -> None:
    own = {NAME: {"id": "rs_1", "encrypted_content": "ENC", "summary": []}}
    request = Request(
        "gpt-5",
        [
            Message("user", [Text("look"), Media("image/png", data=PNG)]),
            Message(
                "assistant",
                [
                    Reasoning("", meta=own),
                    Text("checking"),
                    ToolCall("call_1", "shot", '{"x":1}', meta={NAME: {"id": "fc_1"}}),
                    ToolCall("call_2", "exec", "ls -la", kind="custom"),
                ],
            ),
            Message(
                "user",
                [
                    ToolResult("call_1", [Text("img:"), Media("image/png", data=PNG)]),
                    ToolResult("call_2", [Text("a b")], kind="custom"),
                ],
            ),
            Message("system", [Text("be careful")]),
        ],
    )
    items = render(request)["input"]
    assert items == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {
                    "type": "input_image",
                    "detail": "auto",
                    "image_url": f"data:image/png;base64,{PNG}",
                },
            ],
        },
        {"type": "reasoning", "summary": [], "encrypted_content": "ENC"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "checking"}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "shot", "arguments": '{"x":1}'},
        {"type": "custom_tool_call", "call_id": "call_2", "name": "exec", "input": "ls -la"},
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": [
                {"type": "input_text", "text": "img:"},
                {
                    "type": "input_image",
                    "detail": "auto",
                    "image_url": f"data:image/png;base64,{PNG}",
                },
            ],
        },
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "a b"},
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "be careful"}],
        },
    ]


def test_foreign_reasoning_is_dropped_with_a_warning() -> None:
    request = Request(
        "gpt-5",
        [
            Message("user", [Text("q")]),
            Message(
                "assistant", [Reasoning("hmm", meta={"anthropic": {"signature": "s"}}), Text("a")]
            ),
        ],
    )
    body = render(request)
    assert all(item.get("type") != "reasoning" for item in body["input"])
    assert any("reasoning" in w for w in request.warnings)


def test_tools_render_with_explicit_strictness_and_namespaces_regrouped() -> None:
    ns = {NAME: {"namespace": "agents", "description": "Sub-agents"}}
    request = Request(
        "m",
        tools=[
            Tool("get", "Get it", {"type": "object", "properties": {}}),
            Tool("spawn", parameters={"type": "object"}, meta=ns),
            Tool("wait", parameters={"type": "object"}, meta=ns),
            Tool("exec", kind="custom", custom_format={"type": "text"}),
            Tool("web_search", kind="builtin", meta={NAME: {"type": "web_search"}}),
            Tool("bash", kind="builtin", meta={"anthropic": {"type": "bash_20250124"}}),
        ],
        tool_choice=ToolChoice("tool", "exec"),
    )
    body = render(request)
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get",
            "description": "Get it",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
        {
            "type": "namespace",
            "name": "agents",
            "description": "Sub-agents",
            "tools": [
                {
                    "type": "function",
                    "name": "spawn",
                    "description": None,
                    "parameters": {"type": "object"},
                    "strict": False,
                },
                {
                    "type": "function",
                    "name": "wait",
                    "description": None,
                    "parameters": {"type": "object"},
                    "strict": False,
                },
            ],
        },
        {"type": "custom", "name": "exec", "format": {"type": "text"}},
        {"type": "web_search"},
    ]
    assert body["tool_choice"] == {"type": "custom", "name": "exec"}
    assert any("bash" in w for w in request.warnings)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ReasoningConfig(effort="max"), {"effort": "xhigh"}),
        (ReasoningConfig(budget_tokens=20000), {"effort": "high"}),
        (ReasoningConfig(effort="none", enabled=False), {"effort": "none"}),
        (ReasoningConfig(enabled=False), None),
        (ReasoningConfig(adaptive=True, include_thoughts=True), {"summary": "auto"}),
        (
            ReasoningConfig(effort="minimal", summary="detailed"),
            {"effort": "minimal", "summary": "detailed"},
        ),
    ],
)
def test_reasoning_config(config: ReasoningConfig, expected: dict[str, str] | None) -> None:
    body = render(Request("m", [Message("user", [Text("q")])], reasoning=config))
    assert body.get("reasoning") == expected


def test_unsupported_options_are_dropped_with_warnings() -> None:
    request = Request("m", [Message("user", [Text("q")])], top_k=5, stop=["END"], seed=1)
    body = render(request)
    assert not {"top_k", "stop", "seed"} & body.keys()
    assert any("top_k" in w and "stop" in w for w in request.warnings)


def test_out_of_range_values_are_made_valid() -> None:
    request = Request("m", [Message("user", [Text("q")])], max_tokens=1, parallel_tool_calls=True)
    body = render(request)
    assert body["max_output_tokens"] == 16
    assert "parallel_tool_calls" not in body  # only meaningful with tools
    assert any("max_output_tokens" in w for w in request.warnings)


def test_long_user_ids_are_digested_to_a_valid_identifier() -> None:
    long_id = "user_" + "a" * 64 + "_account__session_1234"
    body = render(Request("m", [Message("user", [Text("q")])], user=long_id))
    assert len(body["safety_identifier"]) == 64
    assert body["safety_identifier"] == render(Request("m", user=long_id))["safety_identifier"]
    assert render(Request("m", user="u1"))["safety_identifier"] == "u1"


def test_tool_error_flag_is_said_in_words_as_for_chat() -> None:
    """Responses outputs have no error flag: the failure is told to the model
    in words, the same words a Chat provider gets (canonical.error_in_words)."""
    request = Request("m", [Message("user", [ToolResult("c", [Text("boom")], is_error=True)])])
    body = render(request)
    assert body["input"] == [
        {"type": "function_call_output", "call_id": "c", "output": "Error: boom"}
    ]
    assert request.warnings
    image = Media("image/png", data="iVBORw0KGgo=")
    failed = ToolResult("c", [image], is_error=True)
    (item,) = render(Request("m", [Message("user", [failed])]))["input"]
    assert item["output"][0] == {"type": "input_text", "text": "Error"}
    assert item["output"][1]["type"] == "input_image"
    ok = render(Request("m", [Message("user", [ToolResult("c", [Text("fine")])])]))
    assert ok["input"][0]["output"] == "fine"


# ---------------------------------------------------------------- round trips


ROUND_TRIPS = [
    Request("m", [Message("user", [Text("hello")])], store=False),  # store defaults to false
    Request(
        "gpt-5",
        [
            Message("user", [Text("a"), Media("image/jpeg", url="https://x/y.jpg", detail="low")]),
            Message(
                "assistant",
                [
                    Reasoning(
                        "**t**",
                        meta={
                            NAME: {
                                "encrypted_content": "E",
                                "summary": [{"type": "summary_text", "text": "**t**"}],
                            }
                        },
                    ),
                    Text("b"),
                    ToolCall("call_1", "f", '{"a":[1,2]}'),
                    ToolCall("call_2", "g", "raw input", kind="custom"),
                ],
            ),
            Message(
                "user",
                [
                    ToolResult("call_1", [Text("r1"), Media("image/png", data=PNG)], name="f"),
                    ToolResult("call_2", [], name="g", kind="custom"),
                    Text("next"),
                ],
            ),
            Message("system", [Text("mid-conversation rule")]),
            Message("user", [Media("application/pdf", data="JVBERi0=", filename="x.pdf")]),
        ],
        system=[Text("sys")],
        tools=[
            Tool("f", "F", {"type": "object"}, strict=True),
            Tool("g", kind="custom", custom_format={"type": "text"}),
        ],
        tool_choice=ToolChoice("required"),
        parallel_tool_calls=True,
        max_tokens=100,
        temperature=0.5,
        top_p=0.9,
        reasoning=ReasoningConfig(effort="medium", summary="auto"),
        response_format=ResponseFormat("json_object"),
        user="u",
        store=True,
        stream=True,
        previous_response_id="resp_1",
    ),
]


@pytest.mark.parametrize("request_", ROUND_TRIPS, ids=["minimal", "everything"])
def test_parse_of_render_is_identity(request_: Request) -> None:
    body = json.loads(json.dumps(render(request_)))
    assert FORMAT.parse_request(body) == request_


def test_codex_body_survives_parse_and_render() -> None:
    """A Codex turn sent on to a Responses upstream keeps every item (ids aside)."""
    body = {
        "model": "gpt-5.5",
        "instructions": "You are Codex.",
        "input": [
            user("fix it"),
            {"type": "reasoning", "summary": [], "encrypted_content": "E1"},
            {
                "type": "custom_tool_call",
                "call_id": "c1",
                "name": "apply_patch",
                "input": "*** Begin Patch",
            },
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "ok"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "done"}],
            },
        ],
        "tools": [{"type": "custom", "name": "apply_patch", "description": "patch"}],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "k",
    }
    again = render(FORMAT.parse_request(body))
    assert again == body


# ------------------------------------------------------- thinking from elsewhere


def test_foreign_thinking_wrapped_in_encrypted_content_comes_back_as_its_own() -> None:
    gemini = {"gemini": {"thoughtSignature": "c2ln"}}
    item = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}]}
    item["encrypted_content"] = wrap_meta(gemini)
    part = parse(input=[user("q"), item]).messages[1].parts[0]
    assert part == Reasoning("t", meta=gemini)


def test_tool_call_carrier_restores_meta_onto_its_call() -> None:
    carried = {"gemini": {"thoughtSignature": "c2ln"}, NAME: {"call_id": "call_1"}}
    request = parse(
        input=[
            user("q"),
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "reasoning", "summary": [], "encrypted_content": wrap_meta(carried)},
            {"type": "function_call_output", "call_id": "call_1", "output": "x"},
        ]
    )
    assert request.messages[1].parts == [
        ToolCall("call_1", "f", "{}", meta={"gemini": {"thoughtSignature": "c2ln"}})
    ]
    # Never sent to OpenAI as a reasoning item it did not issue.
    assert all(item["type"] != "reasoning" for item in render(request)["input"])
    assert unwrap_meta(wrap_meta(carried)) == carried
