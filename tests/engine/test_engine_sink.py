"""The engine's writes to its client: a client that stops reading holds the
upstream back (the engine does not buffer the whole answer), and the stream
still completes once it reads again."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from enginefakes import Reply, make_config
from omniroute_mitm.engine.core.headers import SECRET_HEADER

pytestmark = pytest.mark.anyio

EVENT = 64 * 1024
EVENTS = 512  # 32 MiB in all


CONFIG = """
providers:
  ant: {format: anthropic, base_url: "UPSTREAM/ant/v1", keys: [sk-ant-provider-key-1]}
routes:
  - match: {model: "claude-*"}
    to: ant/up-model
"""


@pytest.fixture
def engine(upstream, start_engine):
    return start_engine(make_config(CONFIG, upstream))


def big_anthropic_stream() -> list[bytes]:
    def event(name: str, data: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up-model",
               "content": [], "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
    delta = event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": "x" * EVENT}})
    return [
        event("message_start", {"type": "message_start", "message": message}),
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
        *[delta] * EVENTS,  # one bytes object, sent many times
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                "usage": {"output_tokens": EVENTS}}),
        event("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


async def test_a_client_that_stops_reading_holds_the_upstream_back(engine, upstream):
    chunks = big_anthropic_stream()
    total = sum(len(c) for c in chunks)
    upstream.script("/ant/v1/messages", Reply(200, chunks, {"content-type": "text/event-stream"}))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", engine.engine.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    body = json.dumps({"model": "claude-sonnet-4", "max_tokens": 100, "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    writer.write(b"POST /v1/messages HTTP/1.1\r\nhost: engine\r\ncontent-type: application/json\r\n"
                 + f"{SECRET_HEADER}: {engine.engine.secret}\r\nx-api-key: sk-client\r\n".encode()
                 + f"content-length: {len(body)}\r\n\r\n".encode() + body)  # fmt: skip
    await reader.readexactly(1024)  # the answer started; now the client reads nothing
    await asyncio.sleep(1.0)
    held_at = upstream.sent
    assert held_at < total * 3 // 4  # the rest waits in the upstream, not in the engine
    received = 1024
    while data := await asyncio.wait_for(reader.read(1 << 20), 10):
        received += len(data)
        if data.endswith(b"0\r\n\r\n"):  # the chunked body's end
            break
    writer.close()
    assert upstream.sent == total and received > total
