"""The client's side of one exchange: what has been sent, and how to send more.

:class:`ClientReply` moves through ``idle -> pinging -> streaming -> done``:
idle (nothing sent), pinging (a 200 head and keep-alive pings, no content
yet: a fallback is still possible), streaming (content reached the client:
failures become in-stream error events), done (a whole answer was sent).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Literal

from omniroute_mitm.engine.core.errors import (
    ClientGone,
    EngineError,
    UpstreamStatus,
    UpstreamStreamError,
)
from omniroute_mitm.engine.core.headers import RECORD_HEADER, ROUTE_HEADER
from omniroute_mitm.engine.core.inbound import Sink
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.translate.codeassist import wrap_code_assist
from omniroute_mitm.translators import Env, ErrorInfo, StreamTranslator, WireFormat, get_format

State = Literal["idle", "pinging", "streaming", "done"]


class ClientReply:
    def __init__(
        self,
        sink: Sink,
        record: Record,
        client: Callable[[], WireFormat],
        *,
        sse: bool,
        redact: Callable[[str], str],
    ) -> None:
        self.sink = sink
        self.record = record
        self._client = client
        self.sse = sse
        self.redact = redact
        self.env = Env()
        self.model = ""
        self.wrapped = False
        """Answers go back in Code Assist's envelope (Gemini CLI logged in)."""
        self.state: State = "idle"
        self._pinger: asyncio.Task[None] | None = None
        self._pings_on = True
        self.first_byte_at: float | None = None

    @property
    def client(self) -> WireFormat:
        return self._client()

    @property
    def committed(self) -> bool:
        """Status and headers are on the wire: errors must go in-stream."""
        return self.sink.committed

    def first_byte_ms_since(self, started: float) -> float | None:
        """Milliseconds from ``started`` (monotonic) to the first content byte."""
        if self.first_byte_at is None:
            return None
        return max(0.0, (self.first_byte_at - started) * 1000)

    @property
    def content_sent(self) -> bool:
        return self.state in ("streaming", "done")

    # ------------------------------------------------------------ sending

    def _first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
            self.record.mark_first_byte()

    def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.record.status = status
        self.sink.head(status, headers)

    async def send(self, data: bytes) -> None:
        """Stream content (the first call commits a 200 head if needed)."""
        if not data:
            return
        if not self.content_sent:
            self.state = "streaming"
            self._first_byte()
            if not self.committed:
                self.head(200, self.stream_headers())
        await self.sink.send(data)

    async def send_raw(self, data: bytes) -> None:
        """Bytes of a passed-on native answer (its own head already set)."""
        self.state = "streaming"
        self._first_byte()
        await self.sink.send(data)

    async def respond(self, status: int, data: bytes, kind: str = "generate") -> None:
        """A whole JSON answer."""
        if self.wrapped and kind == "generate":
            data = wrap_code_assist(data)
        self._first_byte()
        self.state = "done"
        self.head(status, [("content-type", "application/json"), *self.route_headers()])
        await self.sink.send(data)

    async def fail(self, err: EngineError) -> None:
        """The error in the client's format: a response, or an in-stream event."""
        info = self.error_info(err)
        self.record.error = info.message
        self.record.error_class = info.kind
        self.record.status = info.status
        self.state = "done"
        if self.committed:
            await self.sink.send(self._translator().fail(info))
            return
        status, body = self.client.render_error(info)
        extra = getattr(err, "reply_headers", ())  # (a user's limit: Retry-After)
        self.head(status, [("content-type", "application/json"), *self.route_headers(), *extra])
        await self.sink.send(json.dumps(body, separators=(",", ":")).encode())

    def abort(self) -> None:
        """Cut the connection (a native body that broke: never complete-looking)."""
        self.state = "done"
        self.sink.abort()

    # ------------------------------------------------------------ pings

    def start_pinging(self, interval: float) -> None:
        if interval > 0 and self._pinger is None:
            self._pinger = asyncio.ensure_future(self._ping_loop(interval))

    def pings(self, on: bool) -> None:
        """Native answers pass through untouched: no pings mixed in."""
        self._pings_on = on

    async def _ping_loop(self, interval: float) -> None:
        ping = self._translator().ping()
        while not self.content_sent and ping:
            await asyncio.sleep(interval)
            if self.content_sent:
                return
            if not self._pings_on:
                continue
            if not self.committed:
                self.head(200, self.stream_headers())
            self.state = "pinging"
            try:
                await self.sink.send(ping)
            except ClientGone:
                return

    def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()

    # ------------------------------------------------------------ helpers

    def stream_headers(self) -> list[tuple[str, str]]:
        media = self.client.media_type if self.sse else "application/json"
        return [("content-type", media), ("cache-control", "no-cache"), *self.route_headers()]

    def route_headers(self) -> list[tuple[str, str]]:
        route = re.sub(r"[^\x20-\x7e]", "?", self.record.route)[:500]
        return [(ROUTE_HEADER, route), (RECORD_HEADER, str(self.record.id))]

    def error_info(self, err: EngineError) -> ErrorInfo:
        if isinstance(err, UpstreamStatus) and err.fmt is not None:
            info = get_format(err.fmt).parse_error(err.status, err.body)
        elif isinstance(err, UpstreamStreamError):
            info = err.error
        else:
            info = err.info()
        if self.record.failures and len(self.record.failures) == len(self.record.attempts):
            tried = ", ".join(self.record.failures)
            info.message = f"all targets failed ({tried}); last: {info.message}"
        info.message = self.redact(info.message)
        return info

    def _translator(self) -> StreamTranslator:
        return StreamTranslator(self.client, self.client, self.env, model=self.model, sse=self.sse)
