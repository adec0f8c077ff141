"""What a Responses client is sent, watched on its way out.

:class:`Watch` sits between the exchange and the tornado handler (it is a
:class:`~engine.exchange_io.Sink` itself). It passes everything through and
hands the completed response (the ``response.completed`` event of a stream,
or the JSON body) to the conversation, which stores it. When the request is
an emulated compaction, it rewrites the answer instead: the model's summary
becomes the one ``compaction`` output item Codex expects, streamed or not.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from omniroute_mitm.translators.sse import SSEDecoder, SSEEvent

from .conversation import Conversation
from .items import compaction_item, summary_text

if TYPE_CHECKING:
    from omniroute_mitm.engine.core.inbound import Sink

FINAL = ("response.completed", "response.incomplete")
PASSED_WHILE_COMPACTING = ("response.created", "response.in_progress", "error", "response.failed")
NO_SUMMARY = "(no summary available)"


class Watch:
    def __init__(self, sink: Sink, conv: Conversation) -> None:
        self.sink = sink
        self.conv = conv
        self.status = 0
        self.sse = False
        self.decoder = SSEDecoder()
        self.body = bytearray()
        self.seq = 0

    @property
    def committed(self) -> bool:
        return self.sink.committed

    def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.sse = any(k.lower() == "content-type" and "event-stream" in v for k, v in headers)
        self.sink.head(status, headers)

    def abort(self) -> None:
        self.sink.abort()

    async def send(self, data: bytes) -> None:
        if self.status != 200 or not data:
            return await self.sink.send(data)
        if self.sse:
            return await self._stream(data)
        await self._json(data)

    # ---------------------------------------------------------------- stream

    async def _stream(self, data: bytes) -> None:
        events = self.decoder.feed(data)
        if not self.conv.compacting:
            final = [event for event in events if event.event in FINAL]
            for event in final:  # kept before the client sees the end (any instance finds it)
                self.conv.completed(_response(event))
            if final:
                await self.conv.settled()
            return await self.sink.send(data)
        if not events and data.lstrip().startswith(b":"):
            return await self.sink.send(data)  # a keep-alive comment
        out = b"".join(self._compacting(event) for event in events)
        if out:
            await self.sink.send(out)

    def _compacting(self, event: SSEEvent) -> bytes:
        try:
            fields = event.json()
        except ValueError:
            return b""
        if isinstance(fields.get("sequence_number"), int):
            self.seq = max(self.seq, fields["sequence_number"] + 1)
        if event.event in PASSED_WHILE_COMPACTING:
            return _event(event.event or "", fields)
        if event.event not in FINAL:
            return b""  # the summary's own text items: it comes back as one compaction item
        response = _response(event)
        item = compaction_item(summary_text(response.get("output") or []) or NO_SUMMARY)
        response = {**response, "status": "completed", "output": [item]}
        out = [
            self._next("response.output_item.added", {"output_index": 0, "item": item}),
            self._next("response.output_item.done", {"output_index": 0, "item": item}),
            self._next("response.completed", {"response": response}),
        ]
        return b"".join(out)

    def _next(self, kind: str, fields: dict[str, Any]) -> bytes:
        out = _event(kind, {"type": kind, "sequence_number": self.seq, **fields})
        self.seq += 1
        return out

    # ------------------------------------------------------------------ json

    async def _json(self, data: bytes) -> None:
        self.body += data
        parsed = _parsed(self.body) if bytes(data).rstrip().endswith(b"}") else None
        is_response = isinstance(parsed, dict) and parsed.get("object") == "response"
        response = parsed if is_response else None
        if not self.conv.compacting:
            if response is not None:  # kept before the client has it (any instance finds it)
                self.conv.completed(response)
                await self.conv.settled()
            return await self.sink.send(data)
        if parsed is None:
            return
        if response is None:
            return await self.sink.send(bytes(self.body))
        item = compaction_item(summary_text(response.get("output") or []) or NO_SUMMARY)
        response["output"] = [item]
        if self.conv.compact_endpoint:
            response = compacted(response, [*self.conv.retained, item])
        await self.sink.send(json.dumps(response, separators=(",", ":")).encode())


def compacted(response: dict[str, Any], output: list[dict[str, Any]]) -> dict[str, Any]:
    """What POST /v1/responses/compact answers: the user messages, then the
    compaction item."""
    return {
        "id": response.get("id"),
        "object": "response.compaction",
        "created_at": response.get("created_at"),
        "output": output,
        "usage": response.get("usage"),
    }


def _parsed(body: bytearray) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _response(event: SSEEvent) -> dict[str, Any]:
    try:
        fields = event.json()
    except ValueError:
        return {}
    response = fields.get("response") if isinstance(fields, dict) else None
    return response if isinstance(response, dict) else {}


def _event(kind: str, fields: dict[str, Any]) -> bytes:
    data = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n".encode()
