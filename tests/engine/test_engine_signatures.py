"""A conversation that hops between native, an Anthropic-format third party
and a chat provider, turn after turn: each upstream only ever receives the
thinking signatures it issued (the real engine, the Anthropic SDK as the
client, a scripted upstream whose request log is checked)."""

from __future__ import annotations

import json

import anthropic
import pytest
from engine import ORIGINAL_URL_HEADER
from enginefakes import Reply, make_config

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}
CONFIG = """
providers:
  glm: {format: anthropic, base_url: "UPSTREAM/glm/v1", keys: [sk-glm-provider-key-1]}
  kimi: {format: anthropic, base_url: "UPSTREAM/kimi/v1", keys: [sk-kimi-provider-key-1]}
  ds: {format: openai-chat, base_url: "UPSTREAM/ds/v1", keys: [sk-ds-provider-key-1]}
routes:
  - match: {client: anthropic, model: "via-glm"}
    to: glm/glm-up
  - match: {client: anthropic, model: "via-kimi"}
    to: kimi/kimi-up
  - match: {client: anthropic, model: "via-ds"}
    to: ds/ds-up
"""
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]
THINKING = {"type": "enabled", "budget_tokens": 1024}


def _sse(events: list[dict]) -> list[bytes]:
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


def anthropic_turn(signature: str, call_id: str) -> list[bytes]:
    """Signed thinking then a tool call, as an Anthropic-format upstream streams it."""
    message = {
        "id": "msg_" + call_id,
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    tool = {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {}}
    return _sse(
        [
            {"type": "message_start", "message": message},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Weather needed."},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": signature},
            },
            {"type": "content_block_stop", "index": 0},
            {"type": "content_block_start", "index": 1, "content_block": tool},
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"city":"Paris"}'},
            },
            {"type": "content_block_stop", "index": 1},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
            {"type": "message_stop"},
        ]
    )


def chat_turn(call_id: str) -> list[bytes]:
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "ds-up",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    call = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
    }
    return [
        chunk({"role": "assistant", "reasoning_content": "Rome next."}),
        chunk({"tool_calls": [call]}),
        chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]


@pytest.fixture
def engine(upstream, start_engine):
    return start_engine(make_config(CONFIG, upstream))


async def test_each_upstream_only_receives_its_own_signatures(engine, upstream):
    def replies(signature: str, n: int) -> list[Reply]:
        return [
            Reply(200, anthropic_turn(signature, f"toolu_{signature[3:].lower()}{i}"), SSE)
            for i in range(n)
        ]

    upstream.script("/native/v1/messages", *replies("SIGNATIVE1", 2))
    upstream.script("/glm/v1/messages", *replies("SIGGLM2", 3))
    upstream.script("/kimi/v1/messages", *replies("SIGKIMI3", 1))
    upstream.script("/ds/v1/chat/completions", Reply(200, chat_turn("call_d4"), SSE))
    client = anthropic.AsyncAnthropic(
        api_key="sk-ant-client-own",
        base_url=str(engine.client.base_url),
        default_headers={
            **engine.headers(),
            ORIGINAL_URL_HEADER: f"{upstream.url}/native/v1/messages",
        },
    )
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris, then Rome?"}]
    seen_bodies: list[tuple[str, str]] = []

    async def turn(model: str) -> None:
        async with client.messages.stream(
            model=model, max_tokens=4096, thinking=THINKING, tools=TOOLS, messages=messages
        ) as stream:
            final = await stream.get_final_message()
        seen = upstream.seen[-1]
        seen_bodies.append((seen.uri.split("/")[1], seen.body.decode()))
        blocks = [b.model_dump(exclude_none=True) for b in final.content]
        (call,) = [b for b in blocks if b["type"] == "tool_use"]
        messages.append({"role": "assistant", "content": blocks})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "ok"}],
            }
        )

    # native, then an Anthropic-format third party, a chat provider, another
    # third party, native again, and the first third party twice
    hops = ("claude-native", "via-glm", "via-ds", "via-kimi", "claude-native", "via-glm", "via-glm")
    for model in hops:
        await turn(model)
    await client.close()

    issued = {"native": "SIGNATIVE1", "glm": "SIGGLM2", "kimi": "SIGKIMI3"}
    # (upstream, signatures it gets back, thinking kept on)
    want = [
        ("native", set(), True),
        ("glm", set(), False),  # the tool loop's thinking was native's: off
        ("ds", set(), None),
        ("kimi", set(), False),
        ("native", {"native"}, False),  # its own block is back; the last loop was kimi's
        ("glm", {"glm"}, False),
        ("glm", {"glm"}, True),  # its own thinking opens the last tool loop
    ]
    for i, ((where, body), (upstream_name, own, thinking)) in enumerate(
        zip(seen_bodies, want, strict=True)
    ):
        assert where == upstream_name
        got = {issuer for issuer, sig in issued.items() if sig in body}
        assert got == own, (i, where)
        assert "AG9tcj" not in body, (i, where)  # no envelope ever reaches a provider
        if thinking is not None:
            assert ("thinking" in json.loads(body)) == thinking, (i, where)
    assert seen_bodies[-1][1].count("SIGGLM2") == 2
