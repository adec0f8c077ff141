"""parse(render(x)) == x for canonical values Anthropic can express."""

from __future__ import annotations

import json

import pytest
from anthropic_helpers import decode, encode
from omniroute_mitm.translators.anthropic import FORMAT
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Finish,
    Media,
    Message,
    Reasoning,
    ReasoningConfig,
    Request,
    Response,
    StreamEvent,
    StreamStart,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
    WebSearch,
    WebSearchCall,
    counting_env,
)

MARK = {"type": "ephemeral"}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def _conversation() -> list[Message]:
    return [
        Message(
            "user",
            [
                Text("What is in these?", cache_control=MARK),
                Media("image/png", data="iVBORw0KGgo="),
                Media("image/png", url="https://example.com/a.png"),
                Media("application/pdf", data="JVBERi0=", filename="spec.pdf"),
            ],
        ),
        Message(
            "assistant",
            [
                Reasoning("Two images.", meta={"anthropic": {"signature": "EqQB"}}),
                Reasoning("", meta={"anthropic": {"data": "EmwK"}}),
                Text("Checking the weather too."),
                ToolCall("toolu_1", "weather", '{"city":"Paris"}'),
                ToolCall("toolu_2", "weather", '{"city":"Oslo"}'),
                WebSearchCall("srvtoolu_1", meta={"anthropic": {"block": SERVER_CALL}}),
            ],
        ),
        Message(
            "user",
            [
                ToolResult(
                    "toolu_1", [Text("18C"), Media("image/png", data="iVBO")], name="weather"
                ),
                ToolResult(
                    "toolu_2", [Text("no data")], is_error=True, name="weather", cache_control=MARK
                ),
                Text("Thanks"),
            ],
        ),
    ]


SERVER_CALL = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}

REQUESTS = {
    "conversation": Request(
        "claude-x",
        _conversation(),
        system=[Text("You are terse.", cache_control=MARK), Text("Second rule.")],
        tools=[
            Tool("weather", "Weather by city", SCHEMA, cache_control=MARK),
            Tool(
                "web_search",
                kind="builtin",
                meta={"anthropic": {"type": "web_search_20250305", "name": "web_search"}},
                server=WebSearch(),
            ),
        ],
        tool_choice=ToolChoice("tool", "weather"),
        parallel_tool_calls=False,
        max_tokens=1000,
        temperature=0.3,
        top_k=40,
        stop=["END"],
        stream=True,
        user="u-1",
    ),
    "budget thinking": Request(
        "claude-x",
        [Message("user", [Text("Think.")])],
        system=[Text("Only system.")],
        max_tokens=20000,
        reasoning=ReasoningConfig(budget_tokens=4096),
    ),
    "adaptive thinking": Request(
        "claude-x",
        [Message("user", [Text("Think.")])],
        max_tokens=20000,
        reasoning=ReasoningConfig(effort="high", adaptive=True),
        meta={"anthropic": {"effort": "high"}},
    ),
    "thinking off": Request(
        "claude-x",
        [Message("user", [Text("Quick.")])],
        max_tokens=100,
        top_p=0.5,
        reasoning=ReasoningConfig(enabled=False),
        tool_choice=ToolChoice("none"),
        tools=[Tool("f", parameters={"type": "object", "properties": {}})],
    ),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_round_trips(name: str) -> None:
    request = REQUESTS[name]
    body = json.loads(json.dumps(FORMAT.render_request(request, counting_env())))
    again = FORMAT.parse_request(body)
    assert request.warnings == []
    assert again == request


RESPONSES = [
    Response(
        "msg_1",
        "claude-x",
        [
            Reasoning("hmm", meta={"anthropic": {"signature": "EqQB"}}),
            Text(
                "Sure.",
                meta={"anthropic": {"citations": [{"type": "char_location", "cited_text": "x"}]}},
            ),
            ToolCall("toolu_1", "f", '{"a":[1,2]}'),
        ],
        "tool_use",
        usage=Usage(120, 30, cache_read_tokens=100, cache_creation_tokens=5, reasoning_tokens=10),
    ),
    Response("msg_2", "claude-x", [Text("The city of ")], "stop_sequence", "Paris", Usage(5, 3)),
    Response(
        "msg_3",
        "claude-x",
        [],
        "refusal",
        usage=Usage(18, 5),
        meta={"anthropic": {"stop_details": {"type": "refusal", "category": "cyber"}}},
    ),
    Response("msg_4", "claude-x", [Text("cut")], "length", usage=Usage(1, 50)),
]


@pytest.mark.parametrize("response", RESPONSES, ids=lambda r: r.id)
def test_response_round_trips(response: Response) -> None:
    body = json.loads(json.dumps(FORMAT.render_response(response, counting_env())))
    assert FORMAT.parse_response(body) == response


def _events() -> list[StreamEvent]:
    return [
        StreamStart("msg_1", "claude-x", Usage(50, 1, cache_read_tokens=20)),
        BlockStart(0, Reasoning()),
        BlockDelta(0, "Let me "),
        BlockDelta(0, "see."),
        BlockEnd(0, {"anthropic": {"signature": "EqQB"}}),
        BlockStart(1, Reasoning()),
        BlockEnd(1, {"anthropic": {"data": "EmwK"}}),
        BlockStart(2, Text("")),
        BlockDelta(2, "Calling."),
        BlockEnd(2),
        BlockStart(3, ToolCall("toolu_1", "f")),
        BlockDelta(3, '{"a":'),
        BlockDelta(3, "1}"),
        BlockEnd(3),
        BlockStart(4, ToolCall("toolu_2", "g")),
        BlockDelta(4, "{}"),
        BlockEnd(4),
        Finish("tool_use", Usage(50, 42, cache_read_tokens=20, reasoning_tokens=7)),
    ]


def test_stream_round_trips() -> None:
    events = _events()
    assert decode(encode(events, model="claude-x")) == events


def test_stream_round_trip_ignores_splits() -> None:
    data = encode(_events(), model="claude-x")
    assert decode(data, list(range(1, len(data), 3))) == _events()
