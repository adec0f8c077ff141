"""A lean HTTP/1.1 client for the engine's upstream calls, as an httpx transport.

httpx's own transport (httpcore, h11, anyio) hands a streamed body over one
HTTP chunk at a time through several async generators, and each of its locks
and reads is an event-loop checkpoint: a 200-event answer cost the engine
~30% of its CPU and a dozen loop turns before the response head. Here each
connection is an :class:`asyncio.Protocol` with one buffer: a read wakes the
reader once, and the reader gets everything that read brought (every
complete chunk, de-chunked) in one piece.

It speaks what providers speak: HTTP/1.1 keep-alive over TCP or TLS (ALPN
``http/1.1``), bodies framed by ``content-length``, ``chunked`` or the close,
interim 1xx heads skipped. Errors are httpx's own exceptions, so callers map
them as before. Connections are pooled per origin (most recently used first)
and dropped when the peer closed them or after :data:`IDLE_LIMIT` seconds.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator

import httpx

HIGH_WATER = 256 * 1024
"""Buffered bytes at which reading from the upstream pauses (backpressure)."""
MAX_HEAD = 64 * 1024
MAX_IDLE = 100
"""Idle connections kept per origin."""
IDLE_LIMIT = 50.0
"""Seconds an idle connection stays reusable (servers close theirs after ~60 s)."""
HEAD_END = re.compile(rb"\r?\n\r?\n")
CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
NO_BODY_STATUS = frozenset({204, 304})

Origin = tuple[str, str, int]


class _Expired(Exception):
    pass


class Conn(asyncio.Protocol):
    """One upstream connection: a buffer, and one reader waiting on it."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.eof = False
        self.paused = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def usable(self) -> bool:
        return (
            not self.eof
            and not self.buf
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def consumed(self) -> None:
        """The reader took what was buffered: read on if paused."""
        if self.paused and len(self.buf) < HIGH_WATER // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    async def more(self, timeout: float | None) -> None:
        """Wait for more bytes (or the end); raises :class:`_Expired`."""
        self.consumed()
        if self.eof:
            return
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self.eof = True
        if self.transport is not None:
            self.transport.close()


def _chunk_size(buf: bytes, pos: int) -> tuple[int, int] | None:
    """The chunk size line at ``pos``: (size, where its data starts), or None
    while the line is incomplete."""
    end = buf.find(b"\n", pos)
    if end < 0:
        if len(buf) - pos > 4096:
            raise httpx.RemoteProtocolError("chunk size line too long")
        return None
    line = buf[pos:end].split(b";", 1)[0].strip()
    if CHUNK_SIZE.fullmatch(line) is None:
        raise httpx.RemoteProtocolError(f"bad chunk size {line[:20]!r}")
    return int(line, 16), end + 1


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(_Expired())


class Head:
    """A parsed response head."""

    def __init__(self, raw: bytes) -> None:
        lines = raw.split(b"\n")
        parts = lines[0].rstrip(b"\r").split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:100]!r}")
        self.version = parts[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else b""
        self.headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            line = line.rstrip(b"\r")
            if line[:1] in (b" ", b"\t") and self.headers:  # obsolete line folding
                name, value = self.headers[-1]
                self.headers[-1] = (name, value + b" " + line.strip())
                continue
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise httpx.RemoteProtocolError(f"malformed header line {line[:100]!r}")
            self.headers.append((name, value.strip()))

    def values(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name]


class Body(httpx.AsyncByteStream):
    """A response body, de-framed; each step yields all that one read brought."""

    def __init__(self, pool: Wire, conn: Conn, head: Head, method: bytes, timeout: float | None):
        self.pool, self.conn, self.timeout = pool, conn, timeout
        self.done = False
        self.chunked = False
        self.left = -1  # bytes left (content-length, or the current chunk); -1: until close
        self.trailers = False
        connection = b",".join(head.values(b"connection")).lower()
        self.keep_alive = head.version == b"HTTP/1.1" and b"close" not in connection
        encodings = b",".join(head.values(b"transfer-encoding")).lower()
        lengths = set(head.values(b"content-length"))
        if method == b"HEAD" or head.status in NO_BODY_STATUS or head.status < 200:
            self.done = True
        elif encodings:
            if encodings.split(b",")[-1].strip() != b"chunked":
                self.keep_alive = False  # an unframed encoding: the body ends at the close
            else:
                self.chunked, self.left = True, 0
        elif lengths:
            if len(lengths) > 1 or not lengths.copy().pop().isdigit():
                raise httpx.RemoteProtocolError(f"bad content-length {sorted(lengths)!r}")
            self.left = int(lengths.pop())
            self.done = self.left == 0
        else:
            self.keep_alive = False
        if self.done:
            self._finished()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self.conn
        while not self.done:
            data = self._take()
            if data:
                yield data
                continue
            if self.done:
                break
            if conn.eof:
                if self.left == -1 and not self.chunked:
                    self.done = True  # a body framed by the close
                    conn.close()
                    break
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            try:
                await conn.more(self.timeout)
            except _Expired:
                raise httpx.ReadTimeout("timed out reading the response body") from None

    def _take(self) -> bytes:
        buf = self.conn.buf
        if self.chunked:
            return self._take_chunks(buf)
        if self.left == -1:
            data = bytes(buf)
        else:
            data = bytes(buf[: self.left])
            self.left -= len(data)
            if self.left == 0:
                self.done = True
        del buf[: len(data)]
        if self.done:
            self._finished()
        return data

    def _take_chunks(self, buf: bytearray) -> bytes:
        out: list[bytes] = []
        data = bytes(buf)  # one copy of the read; each chunk a slice of it
        pos, size = 0, len(data)
        while not self.done:
            if self.trailers:
                pos = self._trailers(buf, pos)
                break
            if self.left > 0:
                n = min(self.left, size - pos)
                if n <= 0:
                    break
                out.append(data[pos : pos + n])
                pos += n
                self.left -= n
                if self.left:
                    break
                self.left = -2  # the chunk's CRLF is next
            if self.left == -2:
                if size - pos < 2:
                    break
                if not data.startswith(b"\r\n", pos):
                    raise httpx.RemoteProtocolError("chunk not followed by CRLF")
                pos += 2
                self.left = 0
            found = _chunk_size(data, pos)
            if found is None:
                break
            self.left, pos = found
            self.trailers = self.left == 0
        del buf[:pos]
        if self.done:
            self._finished()
        return b"".join(out)

    def _trailers(self, buf: bytearray, pos: int) -> int:
        """After the last chunk: skip the trailer fields; done once whole."""
        if buf.startswith(b"\r\n", pos):
            self.done = True
            return pos + 2
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            return pos
        self.done = True
        return end + 4

    def _finished(self) -> None:
        if self.keep_alive and not self.conn.buf:
            self.pool.release(self.conn)
        else:
            self.conn.close()

    async def aclose(self) -> None:
        if not self.done:
            self.done = True
            self.conn.close()  # a body left unread: the connection cannot be reused


class Wire(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections per origin; see the module docstring."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self.idle: dict[Origin, list[Conn]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        body = await request.aread()  # our requests carry bytes: already read
        target = url.raw_path
        head = b"%s %s HTTP/1.1\r\n%s\r\n" % (
            request.method.encode(), target,
            b"".join(b"%s: %s\r\n" % (n, v) for n, v in request.headers.raw),
        )  # fmt: skip
        conn = self._take(origin) or await self._connect(origin, timeouts.get("connect"))
        assert conn.transport is not None
        try:
            conn.transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                conn.transport.write(body)
            parsed = await self._head(conn, timeouts.get("read"))
            stream = Body(self, conn, parsed, request.method.encode(), timeouts.get("read"))
        except BaseException:
            conn.close()
            raise
        return httpx.Response(
            parsed.status, headers=parsed.headers, stream=stream,
            extensions={"http_version": parsed.version, "reason_phrase": parsed.reason},
        )  # fmt: skip

    async def _head(self, conn: Conn, timeout: float | None) -> Head:
        while True:
            found = HEAD_END.search(conn.buf)
            if found is None:
                if len(conn.buf) > MAX_HEAD:
                    raise httpx.RemoteProtocolError("response head too large")
                if conn.eof:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                try:
                    await conn.more(timeout)
                except _Expired:
                    raise httpx.ReadTimeout("timed out waiting for the response") from None
                continue
            head = Head(bytes(conn.buf[: found.start()]))
            del conn.buf[: found.end()]
            if 100 <= head.status < 200 and head.status != 101:
                continue  # interim (100 Continue, 103 Early Hints)
            return head

    def _take(self, origin: Origin) -> Conn | None:
        idle = self.idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable and now - conn.idle_since < IDLE_LIMIT:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> Conn:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self.ssl_context if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: Conn(origin), host, port, ssl=tls,
                    server_hostname=host if tls else None,
                )  # fmt: skip
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"connecting to {host}:{port}: {exc}") from None
        return conn

    def release(self, conn: Conn) -> None:
        if not conn.usable:
            conn.close()
            return
        idle = self.idle.setdefault(conn.origin, [])
        now = time.monotonic()
        # the oldest first: past their time (or over the cap), they are closed
        while idle and (len(idle) >= MAX_IDLE or now - idle[0].idle_since >= IDLE_LIMIT):
            idle.pop(0).close()
        conn.idle_since = now
        idle.append(conn)

    async def aclose(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()


def http11_context(context: ssl.SSLContext) -> ssl.SSLContext:
    """``context`` offering only HTTP/1.1 in ALPN (what :class:`Wire` speaks)."""
    context.set_alpn_protocols(["http/1.1"])
    return context
