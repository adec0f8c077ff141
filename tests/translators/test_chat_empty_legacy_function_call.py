"""An empty legacy ``function_call`` (``{"name": "", "arguments": ""}``) sent
beside real ``tool_calls`` is no call: not in a response, not in a stream,
not in request history. Every client sees exactly the real calls, and a
Responses client's next turn built from what it got translates cleanly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    FORMAT_NAMES,
    Message,
    ToolCall,
    ToolResult,
    counting_env,
)
from omniroute_mitm.translators.openai_chat import FORMAT as CHAT
from openai_chat_helpers import accumulate, chunk, decode, sse
from sdk_judge import RESPONSE_JUDGES, STREAM_JUDGES
from streamkit import pieces

EMPTY = {"name": "", "arguments": ""}
CALLS = [("get_weather", {"city": "Oslo"}), ("get_time", {"tz": "CET"})]


def _call(index: int, call_id: str, name: str, args: str) -> dict[str, Any]:
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": args},
    }


def response_body() -> dict[str, Any]:
    return {
        "id": "chatcmpl-77",
        "object": "chat.completion",
        "created": 1765100000,
        "model": "gw-model",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "function_call": dict(EMPTY),
                    "tool_calls": [
                        {
                            k: v
                            for k, v in _call(0, "call_a", "get_weather", '{"city":"Oslo"}').items()
                            if k != "index"
                        },
                        {
                            k: v
                            for k, v in _call(1, "call_b", "get_time", '{"tz":"CET"}').items()
                            if k != "index"
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
    }


def stream_body() -> bytes:
    """The gateway echoes the empty legacy field on every delta."""
    return sse(
        chunk({"role": "assistant", "content": None, "function_call": dict(EMPTY)}),
        chunk(
            {
                "function_call": dict(EMPTY),
                "tool_calls": [_call(0, "call_a", "get_weather", "")],
            }
        ),
        chunk(
            {
                "function_call": dict(EMPTY),
                "tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Oslo"}'}}],
            }
        ),
        chunk(
            {
                "function_call": dict(EMPTY),
                "tool_calls": [_call(1, "call_b", "get_time", '{"tz":"CET"}')],
            }
        ),
        chunk({"function_call": dict(EMPTY)}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}),
    )


# ---------------------------------------------------------------- responses


def test_a_response_has_only_the_real_calls() -> None:
    response = CHAT.parse_response(response_body())
    assert [(p.id, p.name) for p in response.parts if isinstance(p, ToolCall)] == [
        ("call_a", "get_weather"),
        ("call_b", "get_time"),
    ]
    assert response.stop_reason == "tool_use"


@pytest.mark.parametrize("client", FORMAT_NAMES)
def test_every_client_response_has_only_the_real_calls(client: str) -> None:
    response = CHAT.parse_response(response_body())
    body = get_format(client).render_response(response, counting_env())
    got = RESPONSE_JUDGES[client](json.loads(json.dumps(body)))
    assert got.tool_calls == CALLS
    assert got.stop == "tool_use"


def test_a_responses_clients_next_turn_translates_cleanly() -> None:
    responses = get_format("openai-responses")
    body = responses.render_response(CHAT.parse_response(response_body()), counting_env())
    calls = [item for item in body["output"] if item["type"] == "function_call"]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    follow_up = {
        "model": "m",
        "input": [
            {"role": "user", "content": "weather and time?"},
            *calls,
            *(
                {"type": "function_call_output", "call_id": c["call_id"], "output": "ok"}
                for c in calls
            ),
        ],
    }
    request = responses.parse_request(follow_up)
    chat = CHAT.render_request(request, counting_env())
    assistant = next(m for m in chat["messages"] if m["role"] == "assistant")
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["get_weather", "get_time"]
    answered = [m["tool_call_id"] for m in chat["messages"] if m["role"] == "tool"]
    assert answered == [c["id"] for c in assistant["tool_calls"]]


# ------------------------------------------------------------------ streams


def test_a_stream_has_only_the_real_calls() -> None:
    acc = accumulate(decode([stream_body()]))
    assert acc.error is None
    assert acc.response.parts == [
        ToolCall("call_a", "get_weather", '{"city":"Oslo"}'),
        ToolCall("call_b", "get_time", '{"tz":"CET"}'),
    ]


@pytest.mark.parametrize("client", FORMAT_NAMES)
@pytest.mark.parametrize(("mode", "seed"), [("whole", 0), ("random", 1), ("random", 2)])
def test_every_client_stream_has_only_the_real_calls(client: str, mode: str, seed: int) -> None:
    translator = StreamTranslator(CHAT, get_format(client), counting_env(), model="test-model")
    out = b"".join(translator.feed(p) for p in pieces(stream_body(), mode, seed))
    out += translator.finish()
    got = STREAM_JUDGES[client](out)
    assert got.error is None, got.error
    assert got.tool_calls == CALLS
    assert got.stop == "tool_use"


def test_a_real_legacy_function_call_still_streams() -> None:
    data = sse(
        chunk(
            {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": ""}}
        ),
        chunk({"function_call": {"arguments": '{"n": '}}),
        chunk({"function_call": {"arguments": "1}"}}),
        chunk({}, "function_call"),
    )
    acc = accumulate(decode([data]))
    assert [(p.name, p.arguments) for p in acc.response.parts if isinstance(p, ToolCall)] == [
        ("f", '{"n": 1}')
    ]
    assert acc.response.stop_reason == "tool_use"


# ---------------------------------------------------------- request history


def test_history_with_an_empty_legacy_call_keeps_the_real_calls_paired() -> None:
    request = CHAT.parse_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "function_call": dict(EMPTY),
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
            ],
        }
    )
    assistant = next(m for m in request.messages if m.role == "assistant")
    assert [(p.id, p.name) for p in assistant.parts if isinstance(p, ToolCall)] == [
        ("call_a", "get_weather")
    ]
    results = [p for m in request.messages for p in m.parts if isinstance(p, ToolResult)]
    assert [r.call_id for r in results] == ["call_a"]
    assert all(isinstance(m, Message) for m in request.messages)
