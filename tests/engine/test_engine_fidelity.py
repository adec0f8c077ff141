"""Issue-7 stream classes through the real engine, read by the client's SDK:
interleaved parallel calls, content inside the opening event, usage."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from enginefakes import Reply, make_config

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}
CONFIG = """
providers:
  ds: {format: openai-chat, base_url: "UPSTREAM/ds/v1", keys: [sk-ds-provider-key-1]}
  ant: {format: anthropic, base_url: "UPSTREAM/ant/v1", keys: [sk-ant-provider-key-1]}
  oai: {format: openai-responses, base_url: "UPSTREAM/oai/v1", keys: [sk-oai-provider-key-1]}
routes:
  - match: {client: anthropic, model: "via-oai"}
    to: oai/oai-up
  - match: {client: anthropic, model: "via-ds"}
    to: ds/ds-up
  - match: {client: openai-chat, model: "via-ant"}
    to: ant/ant-up
  - match: {client: gemini, model: "via-ds"}
    to: ds/ds-up
  - match: {client: openai-responses, model: "via-ds"}
    to: ds/ds-up
"""
TOOLS = [{"name": n, "input_schema": {"type": "object"}} for n in ("get_weather", "get_time")]


@pytest.fixture
def engine(upstream, start_engine):
    return start_engine(make_config(CONFIG, upstream))


def chat_chunk(delta: dict | None, finish: str | None = None, **extra: object) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "ds-up",
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def call(index: int, args: str, call_id: str | None = None, name: str = "") -> dict:
    out: dict = {"index": index, "function": {"arguments": args}}
    if call_id:
        out.update(id=call_id, type="function")
        out["function"]["name"] = name
    return out


INTERLEAVED = [
    chat_chunk(
        {
            "role": "assistant",
            "tool_calls": [call(0, "", "call_a", "get_weather"), call(1, "", "call_b", "get_time")],
        }
    ),
    chat_chunk({"tool_calls": [call(0, '{"city":')]}),
    chat_chunk({"tool_calls": [call(1, '{"tz":')]}),
    chat_chunk({"tool_calls": [call(0, '"Paris"}')]}),
    chat_chunk({"tool_calls": [call(1, '"CET"}')]}),
    chat_chunk({}, "tool_calls"),
    chat_chunk(None, usage={"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}),
    b"data: [DONE]\n\n",
]


async def test_interleaved_parallel_calls_reach_an_anthropic_sdk_whole(engine, upstream):
    upstream.script("/ds/v1/chat/completions", Reply(200, INTERLEAVED, SSE))
    client = anthropic.AsyncAnthropic(
        api_key="x", base_url=str(engine.client.base_url), default_headers=engine.headers()
    )
    async with client.messages.stream(
        model="via-ds",
        max_tokens=100,
        tools=TOOLS,
        messages=[{"role": "user", "content": "Weather and time in Paris?"}],
    ) as stream:
        final = await stream.get_final_message()
    await client.close()
    calls = [(b.name, b.input) for b in final.content if b.type == "tool_use"]
    assert calls == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 9)


async def test_interleaved_parallel_calls_reach_a_responses_sdk_whole(engine, upstream):
    upstream.script("/ds/v1/chat/completions", Reply(200, INTERLEAVED, SSE))
    client = openai.AsyncOpenAI(
        api_key="x", base_url=f"{engine.engine.url}/v1", default_headers=engine.headers()
    )
    tools = [
        {"type": "function", "name": t["name"], "parameters": t["input_schema"]} for t in TOOLS
    ]
    async with client.responses.stream(model="via-ds", input="Weather?", tools=tools) as stream:
        final = await stream.get_final_response()
    await client.close()
    calls = [(i.name, json.loads(i.arguments)) for i in final.output if i.type == "function_call"]
    assert calls == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]


async def test_tool_call_inside_message_start_reaches_a_chat_sdk(engine, upstream):
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "ant-up",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 7},
    }
    events = [{"type": "message_start", "message": message}, {"type": "message_stop"}]
    chunks = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    upstream.script("/ant/v1/messages", Reply(200, chunks, SSE))
    client = openai.AsyncOpenAI(
        api_key="x", base_url=f"{engine.engine.url}/v1", default_headers=engine.headers()
    )
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    async with client.chat.completions.stream(
        model="via-ant",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=tools,
        stream_options={"include_usage": True},
    ) as stream:
        final = await stream.get_final_completion()
    await client.close()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    (tool_call,) = choice.message.tool_calls
    assert (tool_call.function.name, json.loads(tool_call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (12, 7)


async def test_a_failed_tool_result_reaches_a_responses_provider_as_a_failure(engine, upstream):
    answer = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "oai-up",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "It failed.", "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
    }
    upstream.script("/oai/v1/responses", Reply(200, [json.dumps(answer).encode()]))
    client = anthropic.AsyncAnthropic(
        api_key="x", base_url=str(engine.client.base_url), default_headers=engine.headers()
    )
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "is_error": True,
        "content": "city not found",
    }
    message = await client.messages.create(
        model="via-oai",
        max_tokens=100,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [result]},
        ],
    )
    await client.close()
    assert message.content[0].text == "It failed."
    sent = json.loads(upstream.seen[-1].body)
    (output,) = [i for i in sent["input"] if i.get("type") == "function_call_output"]
    assert output == {
        "type": "function_call_output",
        "call_id": "toolu_1",
        "output": "Error: city not found",
    }


async def test_usage_with_reasoning_outside_the_completion_adds_up_for_gemini(engine, upstream):
    completion = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "grok",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi."},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 291,
            "completion_tokens": 26,
            "total_tokens": 513,
            "completion_tokens_details": {"reasoning_tokens": 196},
        },
    }
    upstream.script("/ds/v1/chat/completions", Reply(200, [json.dumps(completion).encode()]))
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    resp = await engine.post("/v1beta/models/via-ds:generateContent", body)
    assert resp.status_code == 200, resp.text
    usage = resp.json()["usageMetadata"]
    assert usage["promptTokenCount"] == 291
    assert (usage["candidatesTokenCount"], usage["thoughtsTokenCount"]) == (26, 196)
    assert usage["totalTokenCount"] == 513
