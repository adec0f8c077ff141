"""The real engine on loopback, httpx as the client, a scripted upstream."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from email.utils import parsedate_to_datetime

import httpx
import pytest
import zstandard
from enginefakes import Reply, make_config
from omniroute_mitm.engine.core.headers import (
    CALL_HEADER,
    ORIGINAL_URL_HEADER,
    RECORD_HEADER,
    RECORD_LINE,
    ROUTE_HEADER,
    ROUTING_LINE,
)
from omniroute_mitm.translators.sse import SSEDecoder

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}


def anthropic_sse(text: str = "Hello", model: str = "up-model") -> list[bytes]:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


def chat_sse(words: list[str]) -> list[bytes]:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up-model"}
    chunks = [
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
    ]
    chunks += [
        {**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
        for w in words
    ]
    chunks.append(
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }
    )
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


CHAT_JSON = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "up-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
}
ANTHROPIC_BODY = {
    "model": "claude-sonnet-4",
    "max_tokens": 100,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}
CHAT_BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}

CONFIG = """
providers:
  ant:
    format: anthropic
    base_url: "UPSTREAM/ant/v1"
    keys: [sk-ant-provider-key-1, sk-ant-provider-key-2]
  chat: {format: openai-chat, base_url: "UPSTREAM/chat/v1", keys: [sk-chat-provider-key]}
  dead: {format: anthropic, base_url: "http://127.0.0.1:DEADPORT/v1", keys: [sk-dead-key-0000]}
  slow: {format: anthropic, base_url: "UPSTREAM/slow/v1", keys: [sk-slow-key-0000], timeout: 0.3}
combos:
  ants: {targets: [ant/up-model]}
  refused: {targets: [dead/up-model, ant/up-model]}
  slowfirst: {targets: [slow/up-model, ant/up-model]}
routes:
  - match: {model: "claude-sonnet-*"}
    to: ants
  - match: {model: "claude-refused"}
    to: refused
  - match: {model: "claude-slow"}
    to: slowfirst
  - match: {client: anthropic, model: "claude-via-chat"}
    to: chat/up-model
  - match: {client: openai-chat, model: "gpt-4o"}
    to: chat/up-model
  - match: {client: openai-chat, model: "gpt-via-ant"}
    to: ant/up-model
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def engine(upstream, start_engine):
    config = make_config(CONFIG.replace("DEADPORT", str(free_port())), upstream)
    return start_engine(config)


def sse_events(data: bytes) -> list[tuple[str | None, str]]:
    return [(e.event, e.data) for e in SSEDecoder().feed(data) + SSEDecoder().finish()]


# ----------------------------------------------------------------- passthrough


async def test_same_format_stream_passes_bytes_through_with_provider_key(engine, upstream):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    resp = await engine.post(
        "/v1/messages?beta=true",
        ANTHROPIC_BODY,
        headers={"x-api-key": "sk-client-own", "anthropic-beta": "context-1m", "cookie": "c=1"},
    )
    assert resp.status_code == 200
    assert resp.content == b"".join(anthropic_sse())
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers[ROUTE_HEADER] == "claude-sonnet-4 -> ant/up-model"
    (seen,) = upstream.seen
    assert seen.headers["x-api-key"] == "sk-ant-provider-key-1"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["anthropic-beta"] == "context-1m"
    assert "cookie" not in seen.headers and "authorization" not in seen.headers
    assert json.loads(seen.body)["model"] == "up-model"
    record = engine.engine.records.get(int(resp.headers["x-omniroute-id"]))
    assert (record.status, record.input_tokens, record.output_tokens) == (200, 10, 5)


async def test_the_engine_answers_with_a_current_date_and_no_server_header(engine, upstream):
    """The head the front passes on to a client: a Date of now, no ``Server``
    naming tornado, and no content type the answer did not give."""
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    before = time.time()
    resp = await engine.post("/v1/messages", ANTHROPIC_BODY, headers={"x-api-key": "sk-mine"})
    refused = await engine.client.post("/v1/messages", json=ANTHROPIC_BODY)
    page = await engine.client.get(
        "/omniroute/records/" + resp.headers["x-omniroute-id"],
        headers={"x-omniroute-secret": engine.engine.secret},
    )
    for answer in (resp, refused, page):
        assert "server" not in answer.headers
        date = parsedate_to_datetime(answer.headers["date"]).timestamp()
        assert before - 1 <= date <= time.time() + 1
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert refused.headers["content-type"] == "application/json"
    assert page.status_code == 200 and page.json()["status"] == 200


async def test_same_format_unary_passes_json_through(engine, upstream):
    upstream.script("/chat/v1/chat/completions", Reply(200, [json.dumps(CHAT_JSON).encode()]))
    resp = await engine.post(
        "/v1/chat/completions", CHAT_BODY, headers={"authorization": "Bearer sk-mine"}
    )
    assert resp.status_code == 200 and resp.json() == CHAT_JSON
    (seen,) = upstream.seen
    assert seen.headers["authorization"] == "Bearer sk-chat-provider-key"
    assert json.loads(seen.body) == {**CHAT_BODY, "model": "up-model"}


# -------------------------------------------------------------------- fallback


async def test_429_then_200_falls_back_to_the_next_account(engine, upstream):
    upstream.script(
        "/ant/v1/messages",
        Reply(429, [b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}']),
        Reply(200, anthropic_sse(), SSE),
    )
    resp = await engine.post("/v1/messages", ANTHROPIC_BODY)
    assert resp.status_code == 200 and resp.content == b"".join(anthropic_sse())
    assert [s.headers["x-api-key"] for s in upstream.seen] == [
        "sk-ant-provider-key-1",
        "sk-ant-provider-key-2",
    ]
    assert resp.headers[ROUTE_HEADER] == (
        "claude-sonnet-4 -> ant/up-model#2 (fallback from ant/up-model: 429)"
    )


async def test_all_fail_gives_one_error_in_client_format_with_last_status(engine, upstream):
    upstream.script(
        "/ant/v1/messages",
        Reply(500, [b'{"type":"error","error":{"type":"api_error","message":"boom"}}']),
        Reply(529, [b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}']),
    )
    resp = await engine.post("/v1/messages", ANTHROPIC_BODY)
    assert resp.status_code == 529
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"
    assert "all targets failed" in body["error"]["message"] and "busy" in body["error"]["message"]
    assert "sk-ant-provider" not in resp.text


async def test_connection_refused_falls_back(engine, upstream):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    resp = await engine.post("/v1/messages", {**ANTHROPIC_BODY, "model": "claude-refused"})
    assert resp.status_code == 200 and resp.content == b"".join(anthropic_sse())
    assert "(fallback from dead/up-model: 502)" in resp.headers[ROUTE_HEADER]


async def test_timeout_before_first_byte_falls_back(engine, upstream):
    upstream.script("/slow/v1/messages", Reply(200, anthropic_sse(), SSE, delay=2))
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    resp = await engine.post("/v1/messages", {**ANTHROPIC_BODY, "model": "claude-slow"})
    assert resp.status_code == 200
    assert "(fallback from slow/up-model: 504)" in resp.headers[ROUTE_HEADER]


async def test_client_error_is_returned_at_once_without_fallback(engine, upstream):
    error = b'{"type":"error","error":{"type":"invalid_request_error","message":"bad field"}}'
    upstream.script("/ant/v1/messages", Reply(400, [error]), Reply(200, anthropic_sse(), SSE))
    resp = await engine.post("/v1/messages", ANTHROPIC_BODY)
    assert resp.status_code == 400
    assert resp.json()["error"] == {"type": "invalid_request_error", "message": "bad field"}
    assert len(upstream.seen) == 1


async def test_provider_404_for_unknown_model_reaches_client_in_its_format(engine, upstream):
    error = b'{"type":"error","error":{"type":"not_found_error","message":"model: nope"}}'
    upstream.script("/ant/v1/messages", Reply(404, [error]))
    resp = await engine.post("/v1/messages", ANTHROPIC_BODY)
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"


# ------------------------------------------------------------------ streaming


async def test_mid_stream_failure_ends_with_an_error_event(engine, upstream):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse()[:3], SSE, cut=True))
    resp = await engine.post("/v1/messages", ANTHROPIC_BODY)
    assert resp.status_code == 200
    events = sse_events(resp.content)
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error"
    assert "sk-ant" not in resp.text


async def test_stream_is_incremental(engine, upstream):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE, gap=0.2))
    loop = asyncio.get_running_loop()
    start = loop.time()
    arrivals = []
    async with engine.client.stream(
        "POST", "/v1/messages", json=ANTHROPIC_BODY, headers=engine.headers()
    ) as resp:
        async for _ in resp.aiter_raw():
            arrivals.append(loop.time() - start)
    # The preamble (message_start, content_block_start) is held back until the
    # first content (the delta sent at 0.4 s); then each event goes on as it comes
    # (sent at 0.6, 0.8 and 1.0 s): not bunched at the end, however loaded the
    # machine (a delay shifts every arrival alike).
    assert arrivals[0] > 0.35
    assert len(arrivals) >= 4 and arrivals[-1] - arrivals[0] > 0.45


async def test_pings_while_waiting_for_the_first_byte(upstream, start_engine):
    config = make_config(CONFIG.replace("DEADPORT", "1"), upstream)
    harness = start_engine(config, ping_interval=0.05)
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE, delay=0.4))
    resp = await harness.post("/v1/messages", ANTHROPIC_BODY)
    events = sse_events(resp.content)
    assert events[0][0] == "ping" and len([e for e in events if e[0] == "ping"]) >= 3
    assert [e[0] for e in events if e[0] != "ping"][0] == "message_start"


async def test_client_disconnect_cancels_the_upstream_call(engine, upstream):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse()[:3], SSE, hang=True))
    async with engine.client.stream(
        "POST", "/v1/messages", json=ANTHROPIC_BODY, headers=engine.headers()
    ) as resp:
        async for _ in resp.aiter_raw():
            break  # the first event arrived; now go away
    await asyncio.wait_for(upstream.closed.wait(), 3)
    await asyncio.sleep(0.05)
    record = engine.engine.records.recent()[-1]
    assert record.error == "client disconnected"


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "check"),
    [
        (
            "/v1/messages",
            lambda b: b["type"] == "error" and b["error"]["type"] == "invalid_request_error",
        ),
        ("/v1/chat/completions", lambda b: b["error"]["type"] == "invalid_request_error"),
    ],
)
async def test_bad_json_is_400_in_client_format(engine, upstream, path, check):
    resp = await engine.post(path, content=b'{"model": "x", ')
    assert resp.status_code == 400 and check(resp.json())
    assert "not valid JSON" in resp.text and upstream.seen == []


async def test_missing_model_is_400(engine):
    resp = await engine.post("/v1/messages", {"messages": []})
    assert resp.status_code == 400 and "model" in resp.json()["error"]["message"]


async def test_without_the_secret_requests_are_refused_in_client_format(engine, upstream):
    for headers in ({}, {"x-omniroute-secret": "wrong"}):
        resp = await engine.client.post("/v1/messages", json=ANTHROPIC_BODY, headers=headers)
        assert resp.status_code == 403 and resp.json()["error"]["type"] == "permission_error"
    assert upstream.seen == []


async def test_a_call_the_front_names_is_announced_before_it_reaches_a_provider(
    engine, upstream, capfd
):
    """An engine child tells its front (on stdout) which call it begins to
    route, before any provider can see it: a call it never announced may be
    sent again when it dies (front.process). The id goes nowhere else."""
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    capfd.readouterr()
    sent = asyncio.ensure_future(
        engine.post("/v1/messages", ANTHROPIC_BODY, headers={CALL_HEADER: "f1-call"})
    )
    while not upstream.seen:
        await asyncio.sleep(0.005)
    first = capfd.readouterr().out
    assert first.startswith(f"{ROUTING_LINE}f1-call\n")  # already, at the upstream
    resp = await sent
    assert resp.status_code == 200
    assert not any(name.startswith("x-omniroute") for name in upstream.seen[0].headers)
    # once it ended, what it did (the flow comment's record: no HTTP request for it)
    line = first.removeprefix(f"{ROUTING_LINE}f1-call\n") + capfd.readouterr().out
    assert line.count("\n") == 1
    assert line.startswith(f"{RECORD_LINE}f1-call {{") and line.endswith("}\n")
    record = json.loads(line.removeprefix(f"{RECORD_LINE}f1-call "))
    assert record["id"] == int(resp.headers[RECORD_HEADER]) and record["status"] == 200
    assert record["tokens"]["input"] > 0 and record["route"].endswith("ant/up-model")
    assert "sk-ant" not in line
    for odd in ("two words", "x" * 65, "a\\nb"):  # only an id is echoed
        upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
        await engine.post("/v1/messages", ANTHROPIC_BODY, headers={CALL_HEADER: odd})
    resp = await engine.client.post(  # not from the front: refused, and never announced
        "/v1/messages", json=ANTHROPIC_BODY, headers={CALL_HEADER: "f2-call"}
    )
    assert resp.status_code == 403
    assert capfd.readouterr().out == ""


async def test_direct_token_lets_base_url_clients_in(upstream, start_engine):
    harness = start_engine(
        make_config(CONFIG.replace("DEADPORT", "1"), upstream), direct_token="tok-123"
    )
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    resp = await harness.client.post(
        "/v1/messages", json=ANTHROPIC_BODY, headers={"x-api-key": "tok-123"}
    )
    assert resp.status_code == 200
    assert upstream.seen[0].headers["x-api-key"] == "sk-ant-provider-key-1"
    resp = await harness.client.post(
        "/v1/messages", json=ANTHROPIC_BODY, headers={"x-api-key": "tok-1234"}
    )
    assert resp.status_code == 403
    models = await harness.client.get("/v1/models", headers={"authorization": "Bearer tok-123"})
    assert "ants" in [m["id"] for m in models.json()["data"]]


async def test_websocket_upgrade_is_426(engine):
    resp = await engine.client.get(
        "/v1/responses", headers={"upgrade": "websocket", "connection": "Upgrade"}
    )
    assert resp.status_code == 426


# ---------------------------------------------------------------------- native


async def test_native_forwards_untouched_with_client_credentials(engine, upstream):
    gz = gzip.compress(json.dumps(CHAT_JSON).encode())
    upstream.script(
        "/native/v1/chat/completions",
        Reply(
            201,
            [gz],
            {"content-type": "application/json", "content-encoding": "gzip", "x-req": "1"},
        ),
    )
    body = {**CHAT_BODY, "model": "gpt-unrouted"}
    raw = zstandard.ZstdCompressor().compress(json.dumps(body).encode())
    resp = await engine.post(
        "/v1/chat/completions",
        content=raw,
        headers={
            "authorization": "Bearer sk-client-own",
            "content-encoding": "zstd",
            ORIGINAL_URL_HEADER: f"{upstream.url}/native/v1/chat/completions?x=1",
        },
    )
    assert resp.status_code == 201 and resp.json() == CHAT_JSON  # httpx decoded the gzip
    assert resp.headers["x-req"] == "1" and resp.headers[ROUTE_HEADER] == "gpt-unrouted -> native"
    (seen,) = upstream.seen
    assert seen.uri == "/native/v1/chat/completions?x=1"
    assert seen.headers["authorization"] == "Bearer sk-client-own"
    assert seen.body == raw and seen.headers["content-encoding"] == "zstd"
    assert not any(h.startswith("x-omniroute") for h in seen.headers)


# ----------------------------------------------------------------- translated


async def test_anthropic_client_on_chat_provider_streams_translated(engine, upstream):
    upstream.script("/chat/v1/chat/completions", Reply(200, chat_sse(["Hello", " world"]), SSE))
    resp = await engine.post("/v1/messages", {**ANTHROPIC_BODY, "model": "claude-via-chat"})
    assert resp.status_code == 200
    events = sse_events(resp.content)
    names = [e[0] for e in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    text = "".join(
        json.loads(d)["delta"].get("text", "") for n, d in events if n == "content_block_delta"
    )
    assert text == "Hello world"
    sent = json.loads(upstream.seen[0].body)
    assert sent["model"] == "up-model" and sent["stream"] is True
    assert upstream.seen[0].headers["authorization"] == "Bearer sk-chat-provider-key"
    start = json.loads(events[0][1])["message"]
    assert start["model"] == "claude-via-chat"


async def test_chat_client_on_anthropic_provider_unary(engine, upstream):
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up-model",
        "content": [{"type": "text", "text": "Hi there"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 4, "output_tokens": 2},
    }
    upstream.script("/ant/v1/messages", Reply(200, [json.dumps(message).encode()]))
    resp = await engine.post("/v1/chat/completions", {**CHAT_BODY, "model": "gpt-via-ant"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["choices"][0]["message"]["content"] == "Hi there"
    assert body["model"] == "gpt-via-ant"
    assert json.loads(upstream.seen[0].body)["model"] == "up-model"


async def test_translated_provider_error_is_in_client_format(engine, upstream):
    upstream.script(
        "/chat/v1/chat/completions",
        Reply(
            401,
            [
                b'{"error":{"message":"Incorrect API key provided: sk-chat-provider-key","type":"invalid_request_error"}}'  # noqa: E501
            ],
        ),
    )
    resp = await engine.post("/v1/messages", {**ANTHROPIC_BODY, "model": "claude-via-chat"})
    assert resp.status_code == 401
    assert resp.json()["type"] == "error" and resp.json()["error"]["type"] == "authentication_error"
    assert "sk-chat-provider-key" not in resp.text


async def test_count_tokens_is_estimated_for_other_formats(engine, upstream):
    body = {"model": "claude-via-chat", "messages": [{"role": "user", "content": "x" * 400}]}
    resp = await engine.post("/v1/messages/count_tokens", body)
    assert resp.status_code == 200 and resp.json()["input_tokens"] >= 100
    assert upstream.seen == []


async def test_count_tokens_goes_to_an_anthropic_provider(engine, upstream):
    upstream.script("/ant/v1/messages/count_tokens", Reply(200, [b'{"input_tokens":42}']))
    resp = await engine.post("/v1/messages/count_tokens", {**ANTHROPIC_BODY, "stream": False})
    assert resp.json() == {"input_tokens": 42}


async def test_direct_client_with_unrouted_model_gets_404(upstream, start_engine):
    harness = start_engine(
        make_config(CONFIG.replace("DEADPORT", "1"), upstream), direct_token="tok-123"
    )
    resp = await harness.client.post(
        "/v1/messages",
        json={**ANTHROPIC_BODY, "model": "claude-opus-unrouted"},
        headers={"x-api-key": "tok-123"},
    )
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"
    assert "not routed" in resp.json()["error"]["message"] and upstream.seen == []


async def test_bad_json_route_header_says_why(engine):
    resp = await engine.post("/v1/messages", content=b"{")
    assert resp.headers[ROUTE_HEADER].startswith("? -> not routed (request body is not valid JSON")


async def test_unknown_path_is_404(engine):
    resp = await engine.client.post("/v1/nothing", json={}, headers=engine.headers())
    assert resp.status_code == 404


def test_httpx_is_the_client():  # keeps the import honest for linters
    assert httpx.__version__


NASTY = [
    {"model": "claude-via-chat", "messages": "oops", "max_tokens": 5},
    {"model": "claude-via-chat", "messages": [{"role": "robot", "content": 1}], "max_tokens": 5},
    {"model": "claude-via-chat", "messages": [None], "max_tokens": "many"},
    {"model": "claude-via-chat", "messages": [{"role": "user", "content": [{"type": "?"}]}]},
    {"model": "claude-via-chat", "tools": [{"name": 5}], "messages": []},
    {"model": "claude-via-chat", "system": {"a": 1}, "messages": []},
    {"model": ["x"]},
    {},
]


@pytest.mark.parametrize("body", NASTY)
async def test_nasty_bodies_get_a_client_error_never_a_500(engine, upstream, body):
    upstream.script("/chat/v1/chat/completions", Reply(200, [json.dumps(CHAT_JSON).encode()]))
    resp = await engine.post("/v1/messages", body)
    assert resp.status_code in (200, 400, 404), resp.text
    assert resp.json()["type"] in ("error", "message")
    assert "Traceback" not in resp.text


async def test_unreadable_same_format_json_passes_through(engine, upstream):
    upstream.script("/chat/v1/chat/completions", Reply(200, [b'["odd", "but", "theirs"]']))
    resp = await engine.post("/v1/chat/completions", CHAT_BODY)
    assert resp.status_code == 200 and resp.json() == ["odd", "but", "theirs"]


async def test_unreadable_translated_json_is_a_502_in_client_format(engine, upstream):
    upstream.script("/chat/v1/chat/completions", Reply(200, [b"<html>oops</html>"]))
    body = {**ANTHROPIC_BODY, "model": "claude-via-chat", "stream": False}
    resp = await engine.post("/v1/messages", body)
    assert resp.status_code == 502 and resp.json()["type"] == "error"
    assert "unreadable response" in resp.json()["error"]["message"]


# ------------------------------------------------------------- max_tokens cap

CAPPED = """
providers:
  capchat: {format: openai-chat, base_url: "UPSTREAM/chat/v1", keys: [k-cap-1], max_tokens: 8192}
  capant: {format: anthropic, base_url: "UPSTREAM/ant/v1", keys: [k-cap-2], max_tokens: 4096}
routes:
  - match: {client: anthropic, model: "claude-to-chat"}
    to: capchat/up-model
  - match: {client: anthropic, model: "claude-to-ant"}
    to: capant/up-model
"""


async def test_provider_max_tokens_caps_a_translated_request(upstream, start_engine):
    engine = start_engine(make_config(CAPPED, upstream))
    upstream.script("/chat/v1/chat/completions", Reply(200, chat_sse(["ok"]), SSE))
    body = {**ANTHROPIC_BODY, "model": "claude-to-chat", "max_tokens": 64000}
    resp = await engine.post("/v1/messages", body)
    assert resp.status_code == 200
    assert json.loads(upstream.seen[0].body)["max_tokens"] == 8192


async def test_provider_max_tokens_caps_a_passed_through_request(upstream, start_engine):
    engine = start_engine(make_config(CAPPED, upstream))
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    small = {**ANTHROPIC_BODY, "model": "claude-to-ant", "max_tokens": 100}
    big = {**ANTHROPIC_BODY, "model": "claude-to-ant", "max_tokens": 64000}
    assert (await engine.post("/v1/messages", small)).status_code == 200
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse(), SSE))
    assert (await engine.post("/v1/messages", big)).status_code == 200
    sent = [json.loads(seen.body) for seen in upstream.seen]
    assert [s["max_tokens"] for s in sent] == [100, 4096]
    assert sent[1]["messages"] == big["messages"]


def test_sizes_and_the_body_budget():
    from omniroute_mitm.engine.core.limits import parse_size, shown
    from omniroute_mitm.engine.serve.server import BodyBudget

    assert parse_size("32m") == 32 * 1024 * 1024 and parse_size("512k") == 512 * 1024
    assert parse_size("1g") == 1024**3 and parse_size("100") == 100 and parse_size("2MiB") > 0
    for bad in ("", "0", "-1", "12x", "m"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert shown(64 * 1024) == "64 KiB" and shown(32 * 1024 * 1024) == "32 MiB"
    assert shown(1536 * 1024) == "1.5 MiB" and shown(800) == "800 bytes"
    budget = BodyBudget(100)
    assert budget.take(60) and not budget.take(41) and budget.take(40)
    budget.give(60)
    assert budget.held == 40 and budget.take(60) and not budget.take(1)


def test_the_header_block_is_measured_alike_by_the_front_and_the_engine():
    from omniroute_mitm.engine.core.limits import header_block

    client = [("host", "api.openai.com"), ("x-big", "h" * 100)]
    ours = [("x-omniroute-secret", "s" * 43), ("X-Omniroute-Original-Url", "https://x/y")]
    size = header_block("POST", "/v1/responses", client)
    assert size == 4 + 13 + 12 + (4 + 14 + 4) + (5 + 100 + 4)
    assert header_block("POST", "/v1/responses", client + ours) == size  # str (tornado)
    as_bytes = [(k.encode(), v.encode()) for k, v in client + ours]  # bytes (mitmproxy)
    assert header_block("POST", "/v1/responses", as_bytes) == size
