"""The load generator: N workers, each on one kept-alive HTTP/1.1 connection
(through the proxy with CONNECT + TLS when there is one), sending streaming
requests one after another and timing each: first body byte and end.

A bare asyncio Protocol that only looks at the bytes' framing, so the client
spends a few microseconds per read and the paths, not the generator, set the
pace (the direct path checks that: it must stay well above the others).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TAIL = 4096
"""Bytes of a stream's end kept to check its last event (Responses' final
event carries the whole response, so its name is well before the end)."""


@dataclass
class Target:
    """Where a path's requests go and what they carry."""

    url: str  # the URL the client calls
    headers: dict[str, str]
    body: dict[str, object]
    proxy: str | None = None  # http://127.0.0.1:PORT (CONNECT) or None
    ssl_context: ssl.SSLContext | None = None
    done_marker: bytes = b"message_stop"  # the last event a complete stream carries
    turn_text: str | None = None
    """Text in the body's last user turn that each request replaces with a
    turn of its own (same length): the next turn of one conversation, its
    history unchanged, as an agent sends (None: every request the same)."""

    def request_bytes(self) -> bytes:
        parts = urlsplit(self.url)
        body = json.dumps(self.body).encode()
        lines = [f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                 f"host: {parts.netloc}", "content-type: application/json",
                 f"content-length: {len(body)}", "accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Result:
    ttfb: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def streams(self) -> int:
        return len(self.total)

    @classmethod
    def merged(cls, results: list[Result]) -> Result:
        """Several runs as one (their streams and their wall times added)."""
        out = cls()
        for r in results:
            out.ttfb += r.ttfb
            out.total += r.total
            out.errors += r.errors
            out.elapsed += r.elapsed
        return out


class _Exchange(asyncio.Protocol):
    """One connection; one response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reset()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def reset(self) -> None:
        self.head = bytearray()
        self.in_body = False
        self.chunked = True
        self.left = -1
        self.tail = b""
        self.status = 0
        self.first: float | None = None
        self.waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection closed: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self._parse_head(bytes(self.head[:end]))
            data = bytes(self.head[end + 4:])
            self.in_body = True
            if not data and self.left != 0:
                return
        if self.first is None and data:
            self.first = time.perf_counter()
        self.tail = (self.tail + data)[-TAIL:]
        if self.chunked:
            if self.tail.endswith(b"0\r\n\r\n") and (
                    self.tail.endswith(b"\r\n0\r\n\r\n") or self.tail == b"0\r\n\r\n"):
                self._finish()
        else:
            self.left -= len(data)
            if self.left <= 0:
                self._finish()

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        fields = {k.strip().lower(): v.strip()
                  for k, _, v in (line.partition(":") for line in lines[1:])}
        self.chunked = "chunked" in fields.get("transfer-encoding", "")
        if not self.chunked:
            self.left = int(fields.get("content-length", "0"))

    def _finish(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        if not self.waiter.done():
            self.waiter.set_result(self.tail)


async def _connect(target: Target) -> _Exchange:
    loop = asyncio.get_running_loop()
    parts = urlsplit(target.url)
    if target.proxy is None:
        _, proto = await loop.create_connection(_Exchange, parts.hostname, parts.port or 80)
        return proto
    proxy = urlsplit(target.proxy)
    _, proto = await loop.create_connection(_Exchange, proxy.hostname, proxy.port)
    authority = f"{parts.hostname}:{parts.port or 443}"
    assert proto.transport is not None
    proto.transport.write(f"CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n\r\n".encode())
    proto.left = 0  # a CONNECT answer has no body
    proto.chunked = False
    await _wait_connect(proto)
    tls = await loop.start_tls(proto.transport, proto, target.ssl_context,
                               server_hostname=parts.hostname)
    assert isinstance(tls, asyncio.Transport)
    proto.transport = tls
    return proto


async def _wait_connect(proto: _Exchange) -> None:
    deadline = time.monotonic() + 30
    while b"\r\n\r\n" not in proto.head:
        if time.monotonic() > deadline or proto.closed.done():
            raise ConnectionError("the proxy did not answer CONNECT")
        await asyncio.sleep(0.001)
    status = int(bytes(proto.head).split(b" ")[1])
    if status != 200:
        raise ConnectionError(f"CONNECT answered {status}")
    proto.reset()


async def one_stream(conn: _Exchange, target: Target, payload: bytes,
                     timeout: float) -> tuple[float, float]:
    conn.reset()
    start = time.perf_counter()
    assert conn.transport is not None
    conn.transport.write(payload)
    tail = await asyncio.wait_for(conn.waiter, timeout)
    end = time.perf_counter()
    if conn.status != 200 or target.done_marker not in tail:
        raise RuntimeError(f"status {conn.status}, stream ended with {tail[-80:]!r}")
    assert conn.first is not None
    return conn.first - start, end - start


class Turns:
    """A target's request bytes, each call the next turn (see Target.turn_text)."""

    def __init__(self, target: Target) -> None:
        self.payload = target.request_bytes()
        self.parts: tuple[bytes, bytes] | None = None
        self.count = 0
        if target.turn_text is not None:
            mark = json.dumps(target.turn_text)[1:-1].encode()
            at = self.payload.rfind(mark)
            if at < 0:
                raise ValueError(f"{target.turn_text!r} is not in the request body")
            self.width = len(mark)
            self.parts = (self.payload[:at], self.payload[at + len(mark):])

    def next(self) -> bytes:
        if self.parts is None:
            return self.payload
        self.count += 1
        turn = f"turn {self.count} now".ljust(self.width, ".").encode()[: self.width]
        return self.parts[0] + turn + self.parts[1]


class Workers:
    """Kept-alive connections to one target, reused from one run to the next
    (the interleaved rounds: no handshakes inside a round)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.turns = Turns(target)
        self.conns: list[_Exchange | None] = []

    async def run(self, concurrency: int, streams: int, seconds: float,
                  timeout: float = 60.0) -> Result:
        """``concurrency`` workers share ``streams`` streams; no new one starts
        after ``seconds``. Worker i uses connection i (opened when missing)."""
        result = Result()
        budget = [streams]
        self.conns += [None] * (concurrency - len(self.conns))
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(i: int) -> None:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                conn = self.conns[i]
                try:
                    if conn is None or conn.closed.done():
                        conn = self.conns[i] = await _connect(self.target)
                    payload = self.turns.next()
                    ttfb, total = await one_stream(conn, self.target, payload, timeout)
                except Exception as exc:  # counted, shown in the table
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                    if conn is not None and conn.transport is not None:
                        conn.transport.close()
                    self.conns[i] = None
                    continue
                result.ttfb.append(ttfb)
                result.total.append(total)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        result.elapsed = time.perf_counter() - start
        return result

    def close(self) -> None:
        for conn in self.conns:
            if conn is not None and conn.transport is not None:
                conn.transport.close()
        self.conns = []


async def run_load(target: Target, concurrency: int, streams: int, seconds: float,
                   timeout: float = 60.0) -> Result:
    """``concurrency`` workers share ``streams`` streams; no new one starts after ``seconds``."""
    workers = Workers(target)
    try:
        return await workers.run(concurrency, streams, seconds, timeout)
    finally:
        workers.close()
