"""generateContent requests: parsing what Gemini clients send, and rendering
any canonical request into a body Gemini accepts (judged by google-genai's
strict models plus the history rules the API enforces)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gemini_helpers import sdk_validate_request
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
    counting_env,
    wrap_meta,
)
from omniroute_mitm.translators.gemini import FORMAT
from omniroute_mitm.translators.gemini.common import DUMMY_SIGNATURE

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)


def render(request: Request) -> dict[str, Any]:
    body = FORMAT.render_request(request, counting_env())
    sdk_validate_request(json.loads(json.dumps(body)))
    return body


def parse(body: dict[str, Any], model: str = "gemini-2.5-flash") -> Request:
    return FORMAT.parse_request(body, model=model, stream=True)


# ------------------------------------------------------------------ parsing


GEMINI_CLI_BODY: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"text": "list files"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Let me look.", "thought": True, "thoughtSignature": "c2lnLXRob3VnaHQ="},
                {
                    "functionCall": {"name": "run_shell", "args": {"cmd": "ls"}},
                    "thoughtSignature": "c2lnLWNhbGw=",
                },
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "run_shell-1761-abc",
                        "name": "run_shell",
                        "response": {"output": "a.txt\nb.txt"},
                    }
                }
            ],
        },
    ],
    "systemInstruction": {
        "role": "user",
        "parts": [{"text": "You are a CLI."}, {"text": "Be brief."}],
    },
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "run_shell",
                    "description": "Run a command",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"cmd": {"type": "string"}},
                        "required": ["cmd"],
                    },
                }
            ]
        },
        {"googleSearch": {}},
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {
        "temperature": 0.5,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 1000,
        "stopSequences": ["END"],
        "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"},
    },
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
}


def test_gemini_cli_request_parses() -> None:
    request = parse(GEMINI_CLI_BODY, model="models/gemini-3-pro-preview")
    assert request.model == "gemini-3-pro-preview"
    assert request.stream is True
    assert [t.text for t in request.system] == ["You are a CLI.", "Be brief."]
    user, model, results = request.messages
    assert user.parts == [Text("list files")]
    thought, call = model.parts
    assert thought == Reasoning(
        "Let me look.", {"gemini": {"thoughtSignature": "c2lnLXRob3VnaHQ="}}
    )
    assert isinstance(call, ToolCall) and call.name == "run_shell"
    assert json.loads(call.arguments) == {"cmd": "ls"}
    assert call.meta == {"gemini": {"thoughtSignature": "c2lnLWNhbGw="}}
    (result,) = results.parts
    assert isinstance(result, ToolResult)
    # Gemini CLI invents ids for calls that came without one: the result
    # still pairs with the call it answers.
    assert result.call_id == call.id
    assert result.content == [Text("a.txt\nb.txt")] and result.name == "run_shell"
    assert request.tools[0].parameters == {
        "type": "object",
        "properties": {"cmd": {"type": "string"}},
        "required": ["cmd"],
    }
    assert request.tools[1].kind == "builtin" and request.tools[1].meta == {
        "gemini": {"googleSearch": {}}
    }
    assert request.tool_choice == ToolChoice("auto")
    assert (request.temperature, request.top_p, request.top_k, request.max_tokens) == (
        0.5,
        0.9,
        40,
        1000,
    )
    assert request.stop == ["END"]
    assert request.reasoning == ReasoningConfig(effort="high", include_thoughts=True)


def test_parsed_gemini_request_renders_back_to_the_same_body() -> None:
    body = render(parse(GEMINI_CLI_BODY, model="gemini-3-pro-preview"))
    assert body["contents"][1]["parts"][1]["thoughtSignature"] == "c2lnLWNhbGw="
    assert body["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "HIGH",
        "includeThoughts": True,
    }
    assert body["safetySettings"] == GEMINI_CLI_BODY["safetySettings"]
    assert body["tools"][1] == {"googleSearch": {}}
    assert body["systemInstruction"] == {
        "parts": [{"text": "You are a CLI."}, {"text": "Be brief."}]
    }


def test_calls_without_ids_pair_with_their_responses_by_name_and_order() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather and time"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "weather", "args": {"city": "A"}}},
                    {"functionCall": {"name": "time", "args": {}}},
                    {"functionCall": {"name": "weather", "args": {"city": "B"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "time", "response": {"output": "noon"}}},
                    {"functionResponse": {"name": "weather", "response": {"output": "sun"}}},
                    {"functionResponse": {"name": "weather", "response": {"output": "rain"}}},
                ],
            },
        ]
    }
    request = parse(body)
    calls = [p for p in request.messages[1].parts if isinstance(p, ToolCall)]
    results = [p for p in request.messages[2].parts if isinstance(p, ToolResult)]
    assert len({c.id for c in calls}) == 3
    assert [r.call_id for r in results] == [calls[1].id, calls[0].id, calls[2].id]
    # The same history parsed again (the next turn) gives the same ids.
    assert [c.id for c in parse(body).messages[1].parts if isinstance(c, ToolCall)] == [
        c.id for c in calls
    ]


def test_a_response_naming_no_unanswered_call_answers_the_first_one() -> None:
    body = {
        "contents": [
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "weather", "args": {}, "id": "c1"}},
                    {"functionCall": {"name": "time", "args": {}, "id": "c2"}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "x", "name": "news", "response": {"output": "a"}}},
                    {"functionResponse": {"id": "y", "name": "news", "response": {"output": "b"}}},
                ],
            },
        ]
    }
    results = parse(body).messages[1].parts
    assert [r.call_id for r in results if isinstance(r, ToolResult)] == ["c1", "c2"]


@pytest.mark.parametrize(
    ("response", "is_error", "text"),
    [
        ({"output": "done"}, False, "done"),
        ({"result": {"rows": 2}}, False, '{"rows":2}'),
        ({"error": "permission denied"}, True, "permission denied"),
        ({"stdout": "x", "exit": 0}, False, '{"stdout":"x","exit":0}'),
        ({}, False, "{}"),
    ],
)
def test_function_response_payloads(response: dict[str, Any], is_error: bool, text: str) -> None:
    body = {
        "contents": [
            {"role": "model", "parts": [{"functionCall": {"id": "c1", "name": "f", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"id": "c1", "name": "f", "response": response}}],
            },
        ]
    }
    (result,) = parse(body).messages[1].parts
    assert isinstance(result, ToolResult)
    assert (result.call_id, result.is_error, result.content) == ("c1", is_error, [Text(text)])


def test_function_response_parts_and_user_media() -> None:
    body = {
        "contents": [
            {
                "role": "model",
                "parts": [{"functionCall": {"id": "c1", "name": "shot", "args": {}}}],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "c1",
                            "name": "shot",
                            "response": {"output": "see image"},
                            "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}],
                        }
                    },
                    {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x/files/1"}},
                    {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                ],
            },
        ]
    }
    result, doc, code = parse(body).messages[1].parts
    assert isinstance(result, ToolResult)
    assert result.content == [Text("see image"), Media("image/png", data=PNG)]
    assert doc == Media("application/pdf", url="https://x/files/1")
    assert code == Opaque("gemini", {"executableCode": {"language": "PYTHON", "code": "print(1)"}})


def test_snake_case_body_is_accepted() -> None:
    body = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": PNG}}]}
        ],
        "generation_config": {"max_output_tokens": 5, "thinking_config": {"thinking_budget": 0}},
        "tool_config": {
            "function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}
        },
    }
    request = parse(body)
    assert request.system == [Text("sys")]
    assert request.messages[0].parts == [Media("image/png", data=PNG)]
    assert request.max_tokens == 5
    assert request.reasoning is not None and request.reasoning.enabled is False
    assert request.tool_choice == ToolChoice("tool", "f")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"thinkingBudget": 0}, ReasoningConfig(enabled=False)),
        (
            {"thinkingBudget": -1, "includeThoughts": True},
            ReasoningConfig(adaptive=True, include_thoughts=True),
        ),
        ({"thinkingBudget": 2048}, ReasoningConfig(budget_tokens=2048)),
        ({"thinkingLevel": "LOW"}, ReasoningConfig(effort="low")),
        (
            {"thinkingLevel": "MINIMAL", "includeThoughts": False},
            ReasoningConfig(effort="minimal", include_thoughts=False),
        ),
    ],
)
def test_thinking_config_parses(config: dict[str, Any], expected: ReasoningConfig) -> None:
    request = parse({"contents": [], "generationConfig": {"thinkingConfig": config}})
    assert request.reasoning == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"mode": "AUTO"}, ToolChoice("auto")),
        ({"mode": "VALIDATED"}, ToolChoice("auto")),
        ({"mode": "NONE"}, ToolChoice("none")),
        ({"mode": "ANY"}, ToolChoice("required")),
        ({"mode": "ANY", "allowedFunctionNames": ["a", "b"]}, ToolChoice("required")),
        ({"mode": "ANY", "allowedFunctionNames": ["a"]}, ToolChoice("tool", "a")),
    ],
)
def test_tool_config_parses(config: dict[str, Any], expected: ToolChoice) -> None:
    request = parse({"contents": [], "toolConfig": {"functionCallingConfig": config}})
    assert request.tool_choice == expected


def test_structured_output_parses_from_either_schema_field() -> None:
    legacy = parse(
        {
            "contents": [],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "OBJECT",
                    "properties": {"a": {"type": "STRING", "nullable": True}},
                },
            },
        }
    )
    assert legacy.response_format == ResponseFormat(
        "json_schema", schema={"type": "object", "properties": {"a": {"type": ["string", "null"]}}}
    )
    plain = parse({"contents": [], "generationConfig": {"responseMimeType": "application/json"}})
    assert plain.response_format == ResponseFormat("json_object")


def test_json_schema_with_openapi_type_names_is_lowered() -> None:
    """Gemini CLI's routing classifier writes responseJsonSchema with OpenAPI's
    upper-case types; other providers only accept JSON Schema's."""
    schema = {
        "type": "OBJECT",
        "properties": {
            "reason": {"type": "STRING", "enum": ["OBJECT"]},
            "score": {"type": ["INTEGER", "NULL"]},
            "type": {"type": "STRING"},
        },
        "required": ["reason", "score"],
    }
    request = parse(
        {
            "contents": [],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseJsonSchema": schema,
            },
            "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": schema}]}],
        }
    )
    lowered = {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "enum": ["OBJECT"]},
            "score": {"type": ["integer", "null"]},
            "type": {"type": "string"},
        },
        "required": ["reason", "score"],
    }
    assert request.response_format == ResponseFormat("json_schema", schema=lowered)
    assert request.tools[0].parameters == lowered


def test_legacy_parameters_become_json_schema() -> None:
    decl = {"name": "f", "parameters": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}}
    (tool,) = parse({"contents": [], "tools": [{"functionDeclarations": [decl]}]}).tools
    assert tool.parameters == {"type": "object", "properties": {"n": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"contents": "hello"}, "contents"),
        ({"contents": [{"role": "robot", "parts": []}]}, "contents[0].role"),
        ({"contents": [{"role": "user", "parts": "x"}]}, "contents[0].parts"),
        ({"contents": [{"role": "user", "parts": ["x"]}]}, "contents[0].parts[0]"),
        (
            {"contents": [], "tools": [{"functionDeclarations": [{"description": "no name"}]}]},
            "tools[0].functionDeclarations[0]",
        ),
    ],
)
def test_invalid_input_names_the_field(body: dict[str, Any], path: str) -> None:
    with pytest.raises(TranslationError) as exc:
        parse(body)
    assert exc.value.path == path


def test_wrapped_foreign_thinking_comes_back_to_its_provider() -> None:
    anthropic_meta = {"anthropic": {"signature": "EqQBCkYIBxgCKkC..."}}
    carried = {"_reasoning": {"parts": [{"text": "I should call f.", "meta": anthropic_meta}]}}
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {
                "role": "model",
                "parts": [
                    # Gemini CLI drops thought parts but keeps the call's signature.
                    {
                        "functionCall": {"id": "toolu_1", "name": "f", "args": {}},
                        "thoughtSignature": wrap_meta(carried),
                    },
                    {
                        "functionCall": {"id": "toolu_2", "name": "f", "args": {}},
                        "thoughtSignature": DUMMY_SIGNATURE,
                    },
                ],
            },
        ]
    }
    thinking, first, second = parse(body).messages[1].parts
    assert thinking == Reasoning("I should call f.", anthropic_meta)
    assert isinstance(first, ToolCall) and first.meta == {}
    assert isinstance(second, ToolCall) and second.meta == {}


def test_kept_thought_part_is_not_duplicated_by_the_call_envelope() -> None:
    meta = {"anthropic": {"signature": "sig"}}
    body = {
        "contents": [
            {
                "role": "model",
                "parts": [
                    {"text": "hm", "thought": True, "thoughtSignature": wrap_meta(meta)},
                    {
                        "functionCall": {"id": "t1", "name": "f", "args": {}},
                        "thoughtSignature": wrap_meta(
                            {"_reasoning": {"parts": [{"text": "hm", "meta": meta}]}}
                        ),
                    },
                ],
            }
        ]
    }
    parts = parse(body).messages[0].parts
    assert parts == [Reasoning("hm", meta), ToolCall("t1", "f", "{}")]


# ---------------------------------------------------------------- rendering


def test_history_alternates_and_merges_same_role_turns() -> None:
    request = Request(
        model="gemini-2.5-flash",
        system=[Text("base")],
        messages=[
            Message("system", [Text("leading system")]),
            Message("user", [Text("a")]),
            Message("user", [Text("b"), Media("image/png", data=PNG)]),
            Message("assistant", [Text("c"), Refusal("d")]),
            Message("system", [Text("be careful")]),
            Message("user", [Text("e")]),
        ],
    )
    body = render(request)
    assert body["systemInstruction"] == {"parts": [{"text": "base"}, {"text": "leading system"}]}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "a"},
                {"text": "b"},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
            ],
        },
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
        {"role": "user", "parts": [{"text": "be careful"}, {"text": "e"}]},
    ]


def _tool_turns(results: list[Any]) -> Request:
    calls = [ToolCall("t1", "weather", '{"city":"A"}'), ToolCall("t2", "time", "{}")]
    return Request(
        model="gemini-2.5-flash",
        messages=[
            Message("user", [Text("q")]),
            Message("assistant", [Text("checking"), *calls]),
            Message("user", results),
        ],
    )


def test_responses_follow_the_call_order_with_images_after_them() -> None:
    request = _tool_turns(
        [
            Text("thanks"),
            ToolResult("t2", [Text("noon")]),
            ToolResult("t1", [Text("sunny"), Media("image/png", data=PNG)], is_error=False),
        ]
    )
    body = render(request)
    model, user = body["contents"][1:]
    assert model["parts"][1] == {
        "functionCall": {"id": "t1", "name": "weather", "args": {"city": "A"}},
        "thoughtSignature": DUMMY_SIGNATURE,
    }
    assert "thoughtSignature" not in model["parts"][2]
    assert user["parts"] == [
        {"functionResponse": {"id": "t1", "name": "weather", "response": {"output": "sunny"}}},
        {"functionResponse": {"id": "t2", "name": "time", "response": {"output": "noon"}}},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"text": "thanks"},
    ]


def test_missing_and_orphan_results_keep_the_history_valid() -> None:
    request = _tool_turns(
        [
            ToolResult("t1", [Text("sunny")], is_error=True),
            ToolResult("zzz", [Text("late")], name="old"),
        ]
    )
    body = render(request)
    user = body["contents"][2]["parts"]
    assert user[0] == {
        "functionResponse": {"id": "t1", "name": "weather", "response": {"error": "sunny"}}
    }
    assert user[1]["functionResponse"]["id"] == "t2"
    assert "error" in user[1]["functionResponse"]["response"]
    assert user[2] == {"text": "[old result]\nlate"}
    assert len(request.warnings) == 2


def test_signatures_go_back_only_to_gemini() -> None:
    request = Request(
        model="gemini-3-pro-preview",
        messages=[
            Message("user", [Text("q")]),
            Message(
                "assistant",
                [
                    Reasoning("gemini thought", {"gemini": {"thoughtSignature": "Z3NpZw=="}}),
                    Reasoning("claude thought", {"anthropic": {"signature": "x"}}),
                    Text("answer", meta={"gemini": {"thoughtSignature": "dHNpZw=="}}),
                    ToolCall("c1", "f", "{}", meta={"gemini": {"thoughtSignature": "Y3NpZw=="}}),
                    ToolCall("c2", "f", "{}"),
                ],
            ),
            Message("user", [ToolResult("c1", [Text("1")]), ToolResult("c2", [Text("2")])]),
        ],
    )
    model = render(request)["contents"][1]["parts"]
    assert model == [
        {"text": "gemini thought", "thought": True, "thoughtSignature": "Z3NpZw=="},
        {"text": "answer", "thoughtSignature": "dHNpZw=="},
        {"functionCall": {"id": "c1", "name": "f", "args": {}}, "thoughtSignature": "Y3NpZw=="},
        {"functionCall": {"id": "c2", "name": "f", "args": {}}},
    ]
    assert any("reasoning" in w for w in request.warnings)


def test_tool_result_name_is_looked_up_from_its_call() -> None:
    request = _tool_turns([ToolResult("t1", [Text("x")]), ToolResult("t2", [Text("y")])])
    user = render(request)["contents"][2]["parts"]
    assert [p["functionResponse"]["name"] for p in user] == ["weather", "time"]


def test_tools_render_with_clean_schemas() -> None:
    request = Request(
        model="gemini-2.5-flash",
        messages=[Message("user", [Text("q")])],
        tools=[
            Tool(
                "edit",
                "Edit a file",
                {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"path": {"type": "string"}, "n": {"type": ["integer", "null"]}},
                    "required": ["path"],
                },
            ),
            Tool("ping", "No arguments", {"type": "object", "properties": {}}),
            Tool("apply_patch", "Patch", kind="custom", custom_format={"type": "grammar"}),
            Tool("googleSearch", kind="builtin", meta={"gemini": {"googleSearch": {}}}),
            Tool("web_search", kind="builtin", meta={"anthropic": {"type": "web_search_20250305"}}),
        ],
        tool_choice=ToolChoice("tool", "edit"),
    )
    body = render(request)
    decls = body["tools"][0]["functionDeclarations"]
    assert decls[0] == {
        "name": "edit",
        "description": "Edit a file",
        "parameters": {
            "type": "OBJECT",
            "properties": {"path": {"type": "STRING"}, "n": {"type": "INTEGER", "nullable": True}},
            "required": ["path"],
        },
    }
    assert decls[1] == {"name": "ping", "description": "No arguments"}
    assert decls[2]["parameters"]["properties"] == {"input": {"type": "STRING"}}
    assert body["tools"][1:] == [{"googleSearch": {}}]
    assert any("web_search" in w for w in request.warnings)
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["edit"]}
    }


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("required"), {"mode": "ANY"}),
    ],
)
def test_tool_choice_renders(choice: ToolChoice, config: dict[str, Any]) -> None:
    request = Request(model="m", messages=[Message("user", [Text("q")])], tool_choice=choice)
    assert render(request)["toolConfig"] == {"functionCallingConfig": config}


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        (
            "gemini-2.5-flash",
            ReasoningConfig(effort="low"),
            {"thinkingBudget": 2048, "includeThoughts": True},
        ),
        (
            "gemini-2.5-flash",
            ReasoningConfig(budget_tokens=3000, include_thoughts=False),
            {"thinkingBudget": 3000},
        ),
        (
            "gemini-2.5-flash",
            ReasoningConfig(adaptive=True),
            {"thinkingBudget": -1, "includeThoughts": True},
        ),
        ("gemini-2.5-flash", ReasoningConfig(enabled=False), {"thinkingBudget": 0}),
        ("gemini-2.5-flash", ReasoningConfig(effort="none"), {"thinkingBudget": 0}),
        ("gemini-2.5-pro", ReasoningConfig(enabled=False), {"thinkingBudget": 128}),
        ("gemini-3-pro-preview", ReasoningConfig(enabled=False), {"thinkingLevel": "LOW"}),
        ("gemini-3-flash-preview", ReasoningConfig(enabled=False), {"thinkingLevel": "MINIMAL"}),
        # Claude Code: adaptive thinking with an effort keeps the effort.
        (
            "gemini-2.5-flash",
            ReasoningConfig(adaptive=True, effort="high"),
            {"thinkingBudget": 16384, "includeThoughts": True},
        ),
        (
            "gemini-3-flash-preview",
            ReasoningConfig(adaptive=True, effort="medium"),
            {"thinkingLevel": "MEDIUM", "includeThoughts": True},
        ),
        (
            "gemini-3-pro-preview",
            ReasoningConfig(effort="medium"),
            {"thinkingLevel": "HIGH", "includeThoughts": True},
        ),
        (
            "gemini-3-pro-preview",
            ReasoningConfig(effort="minimal"),
            {"thinkingLevel": "LOW", "includeThoughts": True},
        ),
        (
            "gemini-3-pro-preview",
            ReasoningConfig(budget_tokens=4096),
            {"thinkingBudget": 4096, "includeThoughts": True},
        ),
    ],
)
def test_reasoning_renders_as_thinking_config(
    model: str, reasoning: ReasoningConfig, expected: dict[str, Any]
) -> None:
    request = Request(model=model, messages=[Message("user", [Text("q")])], reasoning=reasoning)
    assert render(request)["generationConfig"]["thinkingConfig"] == expected


def test_generation_config_renders() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"type": "string"}},
    }
    request = Request(
        model="m",
        messages=[Message("user", [Text("q")])],
        temperature=0.2,
        top_p=0.5,
        top_k=3,
        max_tokens=99,
        stop=["1", "2", "3", "4", "5", "6"],
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.3,
        response_format=ResponseFormat("json_schema", schema=schema, name="out"),
    )
    config = render(request)["generationConfig"]
    assert config == {
        "temperature": 0.2,
        "topP": 0.5,
        "topK": 3,
        "maxOutputTokens": 99,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.3,
        "stopSequences": ["1", "2", "3", "4", "5"],
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert request.warnings


def test_media_by_url_and_data_url() -> None:
    request = Request(
        model="m",
        messages=[
            Message(
                "user",
                [
                    Media("image/*", url="https://example.com/cat.webp?x=1"),
                    Media("image/png", url=f"data:image/png;base64,{PNG}"),
                ],
            )
        ],
    )
    assert render(request)["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]


def test_custom_tool_call_and_bad_arguments_render_as_objects() -> None:
    request = Request(
        model="m",
        messages=[
            Message("user", [Text("q")]),
            Message(
                "assistant",
                [
                    ToolCall("c1", "apply_patch", "*** Begin Patch", kind="custom"),
                    ToolCall("c2", "f", "{not json"),
                ],
            ),
            Message("user", [ToolResult("c1", [Text("ok")]), ToolResult("c2", [Text("ok")])]),
        ],
    )
    parts = render(request)["contents"][1]["parts"]
    assert parts[0]["functionCall"]["args"] == {"input": "*** Begin Patch"}
    assert parts[1]["functionCall"]["args"] == {"_raw_arguments": "{not json"}


def test_rich_request_round_trips() -> None:
    request = Request(
        model="gemini-2.5-flash",
        system=[Text("sys")],
        messages=[
            Message(
                "user",
                [
                    Text("hi"),
                    Media("image/png", data=PNG),
                    Media("application/pdf", url="gs://b/f.pdf"),
                ],
            ),
            Message(
                "assistant",
                [
                    Reasoning("think", {"gemini": {"thoughtSignature": "c2ln"}}),
                    Text("calling"),
                    ToolCall("c1", "f", '{"a":1}', meta={"gemini": {"thoughtSignature": "YWJj"}}),
                    ToolCall("c2", "g", '{"b":[1,2]}'),
                ],
            ),
            Message(
                "user",
                [
                    ToolResult("c1", [Text("one")], name="f"),
                    ToolResult("c2", [Text("bad")], True, name="g"),
                ],
            ),
        ],
        tools=[
            Tool(
                "f",
                "F",
                {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            )
        ],
        tool_choice=ToolChoice("required"),
        max_tokens=100,
        temperature=1.0,
        top_p=0.9,
        top_k=20,
        stop=["x"],
        seed=1,
        reasoning=ReasoningConfig(budget_tokens=512, include_thoughts=True),
        response_format=ResponseFormat("json_schema", schema={"type": "object"}),
    )
    again = parse(json.loads(json.dumps(render(request))))
    assert again.system == request.system
    assert again.messages == request.messages
    assert again.tools == request.tools
    assert again.tool_choice == request.tool_choice
    assert (
        again.max_tokens,
        again.temperature,
        again.top_p,
        again.top_k,
        again.stop,
        again.seed,
    ) == (
        100,
        1.0,
        0.9,
        20,
        ["x"],
        1,
    )
    assert again.reasoning == request.reasoning
    assert again.response_format == request.response_format


def test_streamed_thoughts_kept_as_history_are_one_thought() -> None:
    meta = {"anthropic": {"signature": "sig"}}
    body = {
        "contents": [
            {
                "role": "model",
                "parts": [
                    {"text": "Let me ", "thought": True},
                    {"text": "check.", "thought": True},
                    {"text": "", "thought": True, "thoughtSignature": wrap_meta(meta)},
                    {"text": "Done"},
                    {"text": "", "thoughtSignature": "c2ln"},
                ],
            }
        ]
    }
    parts = parse(body).messages[0].parts
    assert parts == [
        Reasoning("Let me check.", meta),
        Text("Done", meta={"gemini": {"thoughtSignature": "c2ln"}}),
    ]
