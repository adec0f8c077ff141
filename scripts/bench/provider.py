"""A lean fake provider for the benchmark: streams N events in the format the
path asks for, with optional pacing, on a bare asyncio server (keep-alive,
chunked, one write per event), so the provider costs the machine little.

    .venv/bin/python scripts/bench/provider.py --port 0 --events 200 [--pacing 0.001]

The events are rendered once per (format, model) by tests/fakeprovider's
renderers (the shapes the real vendors send). An API key containing
``fail429`` gets a 429 in the format's shape (the failover measurement), with
``retry-after-ms: 0`` so the router falls back on every request instead of
cooling the key down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from fakeprovider import anthropic, gemini, openai_chat, openai_responses  # noqa: E402
from fakeprovider.common import Ctx  # noqa: E402
from fakeprovider.replies import Reply  # noqa: E402

RENDERERS = {"anthropic": anthropic, "openai-chat": openai_chat,
             "openai-responses": openai_responses, "gemini": gemini}
MAX_HEAD = 64 * 1024


def format_of(path: str) -> str | None:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/chat/completions"):
        return "openai-chat"
    if path.startswith("/v1/responses"):
        return "openai-responses"
    if ":streamGenerateContent" in path:
        return "gemini"
    return None


class Streams:
    """The rendered events of one bench stream per (format, model), cached."""

    def __init__(self, events: int) -> None:
        self.reply = Reply.bench(events)
        self.cache: dict[tuple[str, str, bool], list[bytes]] = {}

    def frames(self, fmt: str, model: str, usage: bool = False) -> list[bytes]:
        """``usage``: a Chat request asked for the usage chunk
        (``stream_options.include_usage``), as the OpenAI API then sends it."""
        key = (fmt, model, usage)
        if key not in self.cache:
            body = {"stream_options": {"include_usage": True}} if usage else {}
            frames = RENDERERS[fmt].events(self.reply, Ctx(model=model, body=body))
            self.cache[key] = [b"%x\r\n%s\r\n" % (len(f), f) for f in frames]
        return self.cache[key]


MODEL = re.compile(rb'^\{"model":\s*"([^"]*)"')
USAGE = re.compile(rb'"include_usage"\s*:\s*true')


class Conn(asyncio.Protocol):
    def __init__(self, streams: Streams, pacing: float) -> None:
        self.streams, self.pacing = streams, pacing
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self.next_request()

    def next_request(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD and self.transport:
                self.transport.close()
            return
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields.get("content-length", "0"))
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        self.busy = True
        asyncio.ensure_future(self.answer(head[0].split(" ")[1], fields, body))

    async def answer(self, path: str, fields: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        fmt = format_of(path)
        found = MODEL.search(body, 0, 4096)  # cheap: long request bodies name it first
        try:
            model = found.group(1).decode() if found else str(json.loads(body).get("model", ""))
        except (ValueError, AttributeError):
            model = ""
        if fmt == "gemini":
            model = path.split("/models/")[-1].split(":")[0]
        keys = " ".join(fields.get(n, "") for n in ("authorization", "x-api-key",
                                                      "x-goog-api-key"))
        if fmt is None or "fail429" in keys:
            status = 404 if fmt is None else 429
            err = RENDERERS[fmt or "openai-chat"].error_body(status, "bench provider says no")
            data = json.dumps(err).encode()
            self.transport.write(
                b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\nretry-after-ms: 0\r\n"
                b"content-length: %d\r\n\r\n%s" % (status, len(data), data))
        else:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
            usage = fmt == "openai-chat" and USAGE.search(body) is not None
            for i, frame in enumerate(self.streams.frames(fmt, model, usage)):
                if self.transport.is_closing():
                    return
                if i and self.pacing:
                    await asyncio.sleep(self.pacing)
                self.transport.write(frame)
            self.transport.write(b"0\r\n\r\n")
        self.busy = False
        if self.buf:
            self.next_request()


async def serve(port: int, events: int, pacing: float) -> None:
    streams = Streams(events)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(streams, pacing), "127.0.0.1", port,
                                      backlog=1024)
    print(f"bench provider listening at http://127.0.0.1:{server.sockets[0].getsockname()[1]}",
          flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--events", type=int, default=200, help="events per stream")
    p.add_argument("--pacing", type=float, default=0.0, help="seconds between events")
    args = p.parse_args()
    try:
        asyncio.run(serve(args.port, args.events, args.pacing))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
