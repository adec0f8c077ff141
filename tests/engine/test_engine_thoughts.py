"""An OpenAI Chat client's tool calls get their provider's thinking metadata
back (engine.thoughts): the real engine on loopback, a scripted upstream."""

from __future__ import annotations

import json

import pytest
from enginefakes import Reply, make_config
from omniroute_mitm.translators.sse import SSEDecoder

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}
GEMINI_PATH = "/gem/v1beta/models/up-model:streamGenerateContent"
CONFIG = """
providers:
  ant: {format: anthropic, base_url: "UPSTREAM/ant/v1", keys: [sk-ant-provider-key-1]}
  gem: {format: gemini, base_url: "UPSTREAM/gem/v1beta", keys: [gem-provider-key-1]}
routes:
  - match: {client: openai-chat, model: "via-gem"}
    to: gem/up-model
  - match: {client: openai-chat, model: "via-ant"}
    to: ant/up-model
"""
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def engine(upstream, start_engine):
    return start_engine(make_config(CONFIG, upstream))


def sse(events: list[tuple[str | None, dict]]) -> list[bytes]:
    return [
        (f"event: {name}\n" if name else "").encode() + f"data: {json.dumps(data)}\n\n".encode()
        for name, data in events
    ]


def gemini_call_sse() -> list[bytes]:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    chunk = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{**call, "thoughtSignature": "sig-gemini-123"}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
        "modelVersion": "up-model",
        "responseId": "resp-g1",
    }
    return sse([(None, chunk)])


def gemini_text_sse() -> list[bytes]:
    chunk = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Sunny."}]}, "finishReason": "STOP"}
        ],
        "modelVersion": "up-model",
        "responseId": "resp-g2",
    }
    return sse([(None, chunk)])


def anthropic_thinking_call_sse() -> list[bytes]:
    def block(index: int, kind: str, data: dict) -> tuple[str, dict]:
        return ("content_block_" + kind, {"type": "content_block_" + kind, "index": index, **data})

    def delta(index: int, data: dict) -> tuple[str, dict]:
        return block(index, "delta", {"delta": data})

    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up-model",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    return sse(
        [
            ("message_start", {"type": "message_start", "message": message}),
            block(0, "start", {"content_block": {"type": "thinking", "thinking": ""}}),
            delta(0, {"type": "thinking_delta", "thinking": "Need the weather."}),
            delta(0, {"type": "signature_delta", "signature": "sig-anthropic-456"}),
            block(0, "stop", {}),
            block(
                1,
                "start",
                {
                    "content_block": {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {},
                    }
                },
            ),
            delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}),
            block(1, "stop", {}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": {"output_tokens": 20},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
    )


def anthropic_text_sse() -> list[bytes]:
    message = {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "up-model",
        "content": [{"type": "text", "text": "Sunny."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 30, "output_tokens": 3},
    }
    return [json.dumps(message).encode()]


def chat_tool_calls(content: bytes) -> list[dict]:
    """The tool calls an OpenAI Chat stream delivered, assembled."""
    calls: dict[int, dict] = {}
    for event in SSEDecoder().feed(content) + SSEDecoder().finish():
        if event.data.strip() == "[DONE]":
            continue
        for choice in json.loads(event.data).get("choices", []):
            for tc in choice.get("delta", {}).get("tool_calls") or []:
                call = calls.setdefault(tc["index"], {"type": "function", "arguments": ""})
                call.setdefault("id", tc.get("id"))
                fn = tc.get("function", {})
                if fn.get("name"):
                    call["name"] = fn["name"]
                call["arguments"] += fn.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


async def first_turn(engine, model: str, **extra) -> tuple[dict, list[dict]]:
    """Ask; return the follow-up request a Chat client would send next."""
    ask = {"role": "user", "content": "Weather in Paris?"}
    body = {"model": model, "stream": True, "messages": [ask], "tools": TOOLS, **extra}
    resp = await engine.post("/v1/chat/completions", body)
    assert resp.status_code == 200, resp.text
    assert "sig-" not in resp.text  # a Chat client has no field for it
    calls = chat_tool_calls(resp.content)
    assert [c["name"] for c in calls] == ["get_weather"]
    tool_calls = [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for c in calls
    ]
    history = [
        ask,
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
    ]
    return body, history


async def test_gemini_thought_signature_comes_back_to_gemini(engine, upstream):
    upstream.script(
        GEMINI_PATH, Reply(200, gemini_call_sse(), SSE), Reply(200, gemini_text_sse(), SSE)
    )
    body, history = await first_turn(engine, "via-gem")
    resp = await engine.post("/v1/chat/completions", {**body, "messages": history})
    assert resp.status_code == 200, resp.text
    sent = json.loads(upstream.seen[1].body)
    model_turn = sent["contents"][1]
    assert model_turn["role"] == "model"
    (call,) = [p for p in model_turn["parts"] if "functionCall" in p]
    assert call["thoughtSignature"] == "sig-gemini-123"
    assert call["functionCall"]["name"] == "get_weather"


async def test_anthropic_signed_thinking_comes_back_and_thinking_stays_on(engine, upstream):
    upstream.script(
        "/ant/v1/messages",
        Reply(200, anthropic_thinking_call_sse(), SSE),
        Reply(200, anthropic_text_sse()),
    )
    body, history = await first_turn(engine, "via-ant", reasoning_effort="high")
    assert json.loads(upstream.seen[0].body)["thinking"]["type"] == "enabled"
    follow = {**body, "messages": history, "stream": False}
    resp = await engine.post("/v1/chat/completions", follow)
    assert resp.status_code == 200, resp.text
    sent = json.loads(upstream.seen[1].body)
    assert sent["thinking"]["type"] == "enabled"
    assistant = sent["messages"][1]
    assert assistant["role"] == "assistant"
    assert [b["type"] for b in assistant["content"]] == ["thinking", "tool_use"]
    thinking, tool_use = assistant["content"]
    assert thinking["signature"] == "sig-anthropic-456"
    assert thinking["thinking"] == "Need the weather."
    assert tool_use["id"] == "toolu_1"


async def test_gemini_meta_is_not_restored_to_anthropic(engine, upstream):
    upstream.script(GEMINI_PATH, Reply(200, gemini_call_sse(), SSE))
    upstream.script("/ant/v1/messages", Reply(200, anthropic_text_sse()))
    body, history = await first_turn(engine, "via-gem")
    follow = {**body, "model": "via-ant", "messages": history, "stream": False}
    resp = await engine.post("/v1/chat/completions", follow)
    assert resp.status_code == 200, resp.text
    sent = upstream.seen[1].body.decode()
    assert "sig-gemini-123" not in sent and "thinking" not in json.loads(sent)["messages"][1]
    assistant = json.loads(sent)["messages"][1]
    assert [b["type"] for b in assistant["content"]] == ["tool_use"]


async def test_unary_gemini_answer_is_recorded_too(engine, upstream):
    whole = json.loads(gemini_call_sse()[0].decode().removeprefix("data: "))
    upstream.script(
        "/gem/v1beta/models/up-model:generateContent",
        Reply(200, [json.dumps(whole).encode()]),
        Reply(200, [json.dumps(json.loads(gemini_text_sse()[0][6:])).encode()]),
    )
    ask = {"role": "user", "content": "Weather in Paris?"}
    body = {"model": "via-gem", "messages": [ask], "tools": TOOLS}
    resp = await engine.post("/v1/chat/completions", body)
    assert resp.status_code == 200 and "sig-" not in resp.text
    message = resp.json()["choices"][0]["message"]
    (call,) = message["tool_calls"]
    history = [
        ask,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    resp = await engine.post("/v1/chat/completions", {**body, "messages": history})
    assert resp.status_code == 200, resp.text
    parts = json.loads(upstream.seen[1].body)["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts if "functionCall" in p] == ["sig-gemini-123"]
