"""A conversation that hops between native, an Anthropic-format third party
and a chat provider, turn after turn: each upstream only ever receives the
thinking signatures it issued (the real engine, the Anthropic SDK as the
client, a scripted upstream whose request log is checked)."""

from __future__ import annotations

import json

import anthropic
import pytest
from enginefakes import Reply, make_config
from omniroute_mitm.engine.core.headers import ORIGINAL_URL_HEADER

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


# ------------------------------------------------------------ Gemini clients

GEMINI_CONFIG = """
providers:
  gem1: {format: gemini, base_url: "UPSTREAM/gem1/v1beta", keys: [gem1-provider-key-1]}
  gem2: {format: gemini, base_url: "UPSTREAM/gem2/v1beta", keys: [gem2-provider-key-1]}
  ds: {format: openai-chat, base_url: "UPSTREAM/ds/v1", keys: [sk-ds-provider-key-1]}
  oai1: {format: openai-responses, base_url: "UPSTREAM/oai1/v1", keys: [sk-oai1-provider-key]}
  oai2: {format: openai-responses, base_url: "UPSTREAM/oai2/v1", keys: [sk-oai2-provider-key]}
routes:
  - match: {client: gemini, model: "via-gem1"}
    to: gem1/up
  - match: {client: gemini, model: "via-gem2"}
    to: gem2/up
  - match: {client: gemini, model: "via-ds"}
    to: ds/up
  - match: {client: openai-responses, model: "via-oai1"}
    to: oai1/up
  - match: {client: openai-responses, model: "via-oai2"}
    to: oai2/up
  - match: {client: openai-responses, model: "via-ds"}
    to: ds/up
"""


def gemini_turn(signature: str) -> list[bytes]:
    part = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    chunk = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{**part, "thoughtSignature": signature}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
        "modelVersion": "up",
    }
    return [f"data: {json.dumps(chunk)}\r\n\r\n".encode()]


@pytest.fixture
def engine2(upstream, start_engine):
    return start_engine(make_config(GEMINI_CONFIG, upstream))


async def test_gemini_client_hops_and_each_upstream_gets_only_its_own(engine2, upstream):
    upstream.script(
        "/native/v1beta/models/gemini-x:streamGenerateContent",
        *[Reply(200, gemini_turn("SIGNATIVEG"), SSE) for _ in range(2)],
    )
    upstream.script(
        "/gem1/v1beta/models/up:streamGenerateContent",
        *[Reply(200, gemini_turn("SIGGEMONE"), SSE) for _ in range(2)],
    )
    upstream.script(
        "/gem2/v1beta/models/up:streamGenerateContent", Reply(200, gemini_turn("SIGGEMTWO"), SSE)
    )
    upstream.script("/ds/v1/chat/completions", Reply(200, chat_turn("call_d1"), SSE))
    contents: list[dict] = [{"role": "user", "parts": [{"text": "Weather?"}]}]
    seen: list[tuple[str, str]] = []
    for model in ("gemini-x", "via-gem1", "via-ds", "via-gem2", "gemini-x", "via-gem1"):
        native = f"{upstream.url}/native/v1beta/models/{model}:streamGenerateContent?alt=sse"
        resp = await engine2.post(
            f"/v1beta/models/{model}:streamGenerateContent?alt=sse",
            {"contents": contents},
            headers={ORIGINAL_URL_HEADER: native, "x-goog-api-key": "client-own-key"},
        )
        assert resp.status_code == 200, resp.text
        seen.append((upstream.seen[-1].uri.split("/")[1], upstream.seen[-1].body.decode()))
        parts = [
            part
            for line in resp.text.splitlines()
            if line.startswith("data:")
            for part in json.loads(line[5:])["candidates"][0]["content"].get("parts", [])
        ]
        assert any("functionCall" in p for p in parts)
        contents.append({"role": "model", "parts": parts})
        contents.append(
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"ok": 1}}}],
            }
        )
    issued = {"native": "SIGNATIVEG", "gem1": "SIGGEMONE", "gem2": "SIGGEMTWO"}
    want = [set(), set(), set(), set(), {"native"}, {"gem1"}]
    assert [where for where, _ in seen] == ["native", "gem1", "ds", "gem2", "native", "gem1"]
    for (where, body), own in zip(seen, want, strict=True):
        assert {i for i, sig in issued.items() if sig in body} == own, where
        assert "AG9tcj" not in body, where


# --------------------------------------------------------- Responses clients


def responses_turn(encrypted: str, n: int) -> list[bytes]:
    body = {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1,
        "model": "up",
        "status": "completed",
        "output": [
            {"type": "reasoning", "id": f"rs_{n}", "summary": [], "encrypted_content": encrypted},
            {
                "type": "function_call",
                "id": f"fc_{n}",
                "call_id": f"call_{n}",
                "name": "get_weather",
                "arguments": "{}",
                "status": "completed",
            },
        ],
        "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
    }
    return [json.dumps(body).encode()]


async def test_responses_client_hops_and_each_upstream_gets_only_its_own(engine2, upstream):
    upstream.script(
        "/native/v1/responses", *[Reply(200, responses_turn("ENCNATIVE", i)) for i in range(2)]
    )
    upstream.script(
        "/oai1/v1/responses", *[Reply(200, responses_turn("ENCOAIONE", 10 + i)) for i in range(2)]
    )
    upstream.script("/oai2/v1/responses", Reply(200, responses_turn("ENCOAITWO", 20)))
    completion = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "hm",
                    "tool_calls": [
                        {
                            "id": "call_ds",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
    }
    upstream.script("/ds/v1/chat/completions", Reply(200, [json.dumps(completion).encode()]))
    items: list[dict] = [{"role": "user", "content": "Weather?"}]
    seen: list[tuple[str, str]] = []
    for model in ("gpt-native", "via-oai1", "via-ds", "via-oai2", "gpt-native", "via-oai1"):
        resp = await engine2.post(
            "/v1/responses",
            {
                "model": model,
                "input": items,
                "store": False,
                "include": ["reasoning.encrypted_content"],
            },
            headers={ORIGINAL_URL_HEADER: f"{upstream.url}/native/v1/responses"},
        )
        assert resp.status_code == 200, resp.text
        seen.append((upstream.seen[-1].uri.split("/")[1], upstream.seen[-1].body.decode()))
        output = resp.json()["output"]
        (call,) = [o for o in output if o["type"] == "function_call"]
        items += output
        items.append({"type": "function_call_output", "call_id": call["call_id"], "output": "ok"})
    issued = {"native": "ENCNATIVE", "oai1": "ENCOAIONE", "oai2": "ENCOAITWO"}
    want = [set(), set(), set(), set(), {"native"}, {"oai1"}]
    assert [where for where, _ in seen] == ["native", "oai1", "ds", "oai2", "native", "oai1"]
    for (where, body), own in zip(seen, want, strict=True):
        assert {i for i, sig in issued.items() if sig in body} == own, where
        assert "AG9tcj" not in body, where
