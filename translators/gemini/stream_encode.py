"""Canonical stream events -> streamGenerateContent bytes for a Gemini client.

Every text or thought delta becomes one chunk; a tool call is buffered until
its block ends and sent as one functionCall part (Gemini never streams
arguments to its clients); Finish sends a last chunk with finishReason and
usageMetadata. ``sse=True`` frames chunks as ``data: ...\\r\\n\\r\\n`` (alt=sse);
``sse=False`` writes one JSON array, ``[`` + chunk, ``\\r\\n,`` + chunk, ... ``]``.

Gemini has no error event: an error mid-stream is written the way Google
writes it, as a bare ``{"error": {...}}`` object (not a ``data:`` line), on
which google-genai raises APIError and @google/genai raises ApiError.
"""

from __future__ import annotations

from typing import Any

from ..canonical import (
    BlockCitation,
    BlockDelta,
    BlockEnd,
    BlockStart,
    Env,
    Finish,
    Media,
    Meta,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
    WebSearchCall,
    WebSearchResults,
    merge_meta,
)
from ..sse import dumps
from .common import NAME, STOP_TO_FINISH, client_signature, own_signature, render_usage
from .errors import error_body, http_status
from .parts import function_call, render_media, thought
from .response import call_signature
from .web import render_grounding


class GeminiStreamEncoder:
    def __init__(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> None:
        self._env = env
        self._model = model
        self._sse = sse
        self._id: str | None = None
        self._suffix = ""
        self._written = 0
        self._usage = Usage(input_tokens=input_tokens) if input_tokens is not None else None
        self._blocks: dict[int, Part] = {}
        self._pieces: dict[int, list[str]] = {}
        self._carried: list[dict[str, Any]] = []
        self._done = False
        self._grounded: list[Part] = []  # web parts and cited texts, for groundingMetadata

    def feed(self, event: StreamEvent) -> bytes:
        if self._done:
            return b""
        if isinstance(event, BlockDelta):
            return self._delta(event)
        if isinstance(event, BlockStart):
            return self._start_block(event.index, event.part)
        if isinstance(event, BlockEnd):
            return self._end_block(event)
        if isinstance(event, StreamStart):
            self._id = event.id or None
            self._usage = event.usage or self._usage
            return b""
        if isinstance(event, Finish):
            return self._finish(event)
        if isinstance(event, BlockCitation):
            text = self._blocks.get(event.index)
            if isinstance(text, Text):
                text.citations.append(event.citation)
            return b""
        return self._error(event)

    def finish(self) -> bytes:
        if self._sse:
            return b""
        return b"]" if self._written else b"[]"

    def ping(self) -> bytes:
        # A blank line: google-genai chokes on SSE comments (it parses every
        # non-data line as JSON) and a JSON array has no room for a comment.
        return b"\r\n" if self._sse else b""

    # ---------------------------------------------------------------- blocks

    def _start_block(self, index: int, part: Part) -> bytes:
        if isinstance(part, Text):
            part = Text(part.text, meta=part.meta)  # its text and citations grow here
        self._blocks[index] = part
        self._pieces[index] = []
        if isinstance(part, Text | WebSearchCall | WebSearchResults):
            self._grounded.append(part)
        if isinstance(part, Media):
            return self._parts([render_media(part)])
        if isinstance(part, Opaque) and part.format == NAME:
            return self._parts([part.data])
        return b""

    def _delta(self, event: BlockDelta) -> bytes:
        part = self._blocks.get(event.index)
        if part is None or not event.text:
            return b""
        if isinstance(part, ToolCall):
            self._pieces[event.index].append(event.text)
            return b""
        if isinstance(part, Reasoning):
            self._pieces[event.index].append(event.text)
            return self._part_json('{"text":' + dumps(event.text) + ',"thought":true}')
        if isinstance(part, Text | Refusal):
            if isinstance(part, Text):
                part.text += event.text
            return self._part_json('{"text":' + dumps(event.text) + "}")
        return b""

    def _end_block(self, event: BlockEnd) -> bytes:
        part = self._blocks.pop(event.index, None)
        text = "".join(self._pieces.pop(event.index, []))
        if part is None:
            return b""
        meta: Meta = {k: dict(v) for k, v in part.meta.items()}
        merge_meta(meta, event.meta)
        if isinstance(part, ToolCall):
            call = ToolCall(part.id, part.name, text, part.kind, meta)
            signature = call_signature(call, self._carried)
            self._carried = []
            return self._parts([function_call(call, signature)])
        if isinstance(part, Reasoning):
            return self._end_reasoning(text, meta)
        sig = own_signature(meta)
        if isinstance(part, Text) and sig:
            return self._parts([{"text": "", "thoughtSignature": sig}])
        return b""

    def _end_reasoning(self, text: str, meta: Meta) -> bytes:
        if own_signature(meta) is None and meta:
            self._carried.append({"text": text, "meta": meta})
        signature = client_signature(meta)
        return self._parts([thought("", signature)]) if signature else b""

    # ---------------------------------------------------------------- chunks

    def _finish(self, event: Finish) -> bytes:
        self._done = True
        candidate = {
            "content": {"role": "model", "parts": [{"text": ""}]},
            "finishReason": STOP_TO_FINISH.get(event.stop_reason, "STOP"),
            "index": 0,
        }
        grounding = render_grounding(self._grounded)
        if grounding is not None:
            candidate["groundingMetadata"] = grounding
        chunk: dict[str, Any] = {"candidates": [candidate]}
        usage = event.usage or self._usage
        if usage is not None:
            chunk["usageMetadata"] = render_usage(usage)
        chunk["modelVersion"] = self._model
        chunk["responseId"] = self._response_id()
        return self._frame(dumps(chunk))

    def _error(self, event: StreamError) -> bytes:
        self._done = True
        body = dumps(error_body(event.error, http_status(event.error)))
        if self._sse:
            return body.encode() + b"\r\n\r\n"
        return self._frame(body)

    def _response_id(self) -> str:
        if self._id is None:
            self._id = self._env.new_id("resp_")
        return self._id

    def _parts(self, parts: list[dict[str, Any]]) -> bytes:
        return self._part_json(",".join(dumps(p) for p in parts))

    def _part_json(self, parts_json: str) -> bytes:
        if not self._suffix:
            self._suffix = (
                ']},"index":0}],"modelVersion":'
                + dumps(self._model)
                + ',"responseId":'
                + dumps(self._response_id())
                + "}"
            )
        return self._frame(
            '{"candidates":[{"content":{"role":"model","parts":[' + parts_json + self._suffix
        )

    def _frame(self, payload: str) -> bytes:
        if self._sse:
            return b"data: " + payload.encode() + b"\r\n\r\n"
        head = b"[" if self._written == 0 else b"\r\n,"
        self._written += 1
        return head + payload.encode()
