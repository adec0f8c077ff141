"""Canonical stream events -> Anthropic Messages SSE, as Claude Code expects.

``message_start`` (the client's model, a real input count: the provider's,
else the estimate given at construction) then ``ping``; one content block at
a time with dense indexes; ``message_delta`` with the stop reason and the
final usage; ``message_stop``. Thinking blocks open lazily: a block that
turns out to be redacted thinking (known only at its end) is sent whole.
Freeform (custom) tool input is streamed inside ``{"input": "..."}``. A
tool call carrying another format's metadata is followed by an empty
thinking block that carries it (see ``content.carrier_block``).
"""

from __future__ import annotations

from typing import Any

from ..canonical import (
    BlockCitation,
    BlockDelta,
    BlockEnd,
    BlockStart,
    Env,
    ErrorInfo,
    Finish,
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
    WebFetchResult,
    WebSearchCall,
    WebSearchResults,
    merge_meta,
)
from ..sse import dumps, encode_event
from .common import NAME, anthropic_meta, foreign_meta, stop_to_wire, usage_to_wire
from .content import carried_signature, carrier_block
from .errors import error_event
from .web import empty_result, render_citation, web_blocks

PING = b'event: ping\ndata: {"type": "ping"}\n\n'
_CUSTOM_OPEN = '{"input":"'
_CUSTOM_CLOSE = '"}'
_UNFINISHED = ErrorInfo(502, "server", "stream ended before completion")


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return encode_event(dumps(payload), kind)


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_start", "index": index, "content_block": block}
    return _event("content_block_start", payload)


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_delta", "index": index, "delta": delta}
    return _event("content_block_delta", payload)


def _json_delta(index: int, fragment: str) -> bytes:
    return _block_delta(index, {"type": "input_json_delta", "partial_json": fragment})


def _block_stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


class _Open:
    """The block being streamed: its canonical index and wire state."""

    __slots__ = ("index", "kind", "wire", "meta", "call_id", "custom", "lead", "text", "cited")

    def __init__(self, index: int, kind: str, meta: Meta) -> None:
        self.index = index
        self.kind = kind  # text | thinking | tool | opaque | skip
        self.wire: int | None = None
        self.meta: Meta = {k: dict(v) for k, v in meta.items()}
        self.call_id = ""
        self.custom = False
        self.lead = True  # no JSON input sent yet
        self.text: list[str] = []  # a text block's text so far (cited spans)
        self.cited = False  # citations sent as they came (BlockCitation)


class AnthropicStreamEncoder:
    def __init__(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> None:
        self._env = env
        self._model = model
        self._estimate = input_tokens or 0
        self._started = False
        self._finished = False
        self._next_wire = 0
        self._open: _Open | None = None
        self._tool_use = False
        self._refusal = False
        self._chars = 0
        self._start_usage: dict[str, Any] = {}
        self._call: tuple[WebSearchCall, str] | None = None  # a search awaiting its result

    def ping(self) -> bytes:
        return PING

    def finish(self) -> bytes:
        if self._started and not self._finished:
            self._finished = True
            return error_event(_UNFINISHED)
        return b""

    def feed(self, event: StreamEvent) -> bytes:
        if self._finished:
            return b""
        if isinstance(event, BlockDelta):
            return self._delta(event)
        if isinstance(event, BlockStart):
            out = self._start_message(None) + self._close() + self._unanswered(event.part)
            return out + self._open_block(event)
        if isinstance(event, BlockEnd):
            return self._end_block(event)
        if isinstance(event, BlockCitation):
            return self._cite(event)
        if isinstance(event, StreamStart):
            return self._start_message(event)
        if isinstance(event, Finish):
            out = self._start_message(None) + self._close() + self._unanswered(None)
            return out + self._end(event)
        if isinstance(event, StreamError):
            self._finished = True
            return error_event(event.error)
        return b""

    # ------------------------------------------------------------- message

    def _start_message(self, event: StreamStart | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        usage = event.usage if event is not None else None
        if usage is not None and usage.input_tokens > 0:
            self._start_usage = usage_to_wire(usage)
            self._start_usage.pop("output_tokens_details", None)
        else:
            self._start_usage = usage_to_wire(Usage(input_tokens=self._estimate))
        self._start_usage["output_tokens"] = max(1, usage.output_tokens if usage else 0)
        message: dict[str, Any] = {
            "id": (event.id if event is not None else "") or self._env.new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._start_usage,
        }
        start = _event("message_start", {"type": "message_start", "message": message})
        return start + PING

    def _end(self, event: Finish) -> bytes:
        self._finished = True
        usage = self._final_usage(event.usage)
        delta = {
            "stop_reason": stop_to_wire(event.stop_reason, self._tool_use, self._refusal),
            "stop_sequence": event.stop_sequence,
        }
        payload = {"type": "message_delta", "delta": delta, "usage": usage}
        return _event("message_delta", payload) + _event("message_stop", {"type": "message_stop"})

    def _final_usage(self, usage: Usage | None) -> dict[str, Any]:
        if usage is None:
            final = dict(self._start_usage)
            final["output_tokens"] = max(1, self._chars // 4)
            return final
        final = usage_to_wire(usage)
        if usage.input_tokens <= 0:
            # The provider never counted the input: keep what message_start said.
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
                final[key] = self._start_usage[key]
        return final

    # -------------------------------------------------------------- blocks

    def _end_block(self, event: BlockEnd) -> bytes:
        block = self._open
        if block is None or block.index != event.index:
            return b""
        merge_meta(block.meta, event.meta)
        return self._close()

    def _wire_start(self, block: _Open, content: dict[str, Any]) -> bytes:
        block.wire = self._next_wire
        self._next_wire += 1
        return _block_start(block.wire, content)

    def _open_block(self, event: BlockStart) -> bytes:
        part = event.part
        if isinstance(part, Text | Refusal):
            self._refusal = self._refusal or isinstance(part, Refusal)
            block = self._open = _Open(event.index, "text", part.meta)
            out = self._wire_start(block, {"type": "text", "text": ""})
            return out + self._delta(BlockDelta(event.index, part.text))
        if isinstance(part, Reasoning):
            self._open = _Open(event.index, "thinking", part.meta)
            return self._delta(BlockDelta(event.index, part.text))
        if isinstance(part, ToolCall):
            return self._open_tool(event.index, part)
        if isinstance(part, Opaque) and part.format == NAME:
            block = self._open = _Open(event.index, "opaque", {})
            return self._wire_start(block, part.data)
        if isinstance(part, WebSearchCall | WebSearchResults | WebFetchResult):
            return self._open_web(event.index, part)
        self._open = _Open(event.index, "skip", {})  # media, foreign items
        return b""

    def _open_web(
        self, index: int, part: WebSearchCall | WebSearchResults | WebFetchResult
    ) -> bytes:
        """A server tool block, as Anthropic streams it: a call's input as
        one JSON delta after an empty start, a result whole."""
        block = self._open = _Open(index, "opaque", {})
        content = web_blocks(part, self._env)[0]
        if isinstance(part, WebSearchCall):
            self._call = (part, content["id"])
        if content["type"] != "server_tool_use":
            return self._wire_start(block, content)
        given = content.get("input") or {}
        out = self._wire_start(block, {**content, "input": {}})
        return out + _json_delta(block.wire or 0, dumps(given))

    def _unanswered(self, part: Part | None) -> bytes:
        """An empty result for a search whose provider sent none (the next
        block is not its result)."""
        if self._call is None:
            return b""
        (call, call_id), self._call = self._call, None
        if isinstance(part, WebSearchResults | WebFetchResult) and part.call_id == call.id:
            return b""
        block = _Open(-1, "opaque", {})
        return self._wire_start(block, empty_result(call, call_id)) + _block_stop(block.wire or 0)

    def _cite(self, event: BlockCitation) -> bytes:
        block = self._open
        if block is None or block.index != event.index or block.kind != "text":
            return b""
        block.cited = True
        citation = event.citation
        text = "".join(block.text)
        span = text[citation.start : citation.end] if citation.start is not None else text
        delta = {"type": "citations_delta", "citation": render_citation(citation, span)}
        return _block_delta(block.wire or 0, delta)

    def _open_tool(self, index: int, part: ToolCall) -> bytes:
        block = self._open = _Open(index, "tool", part.meta)
        block.call_id = part.id or self._env.new_id("toolu_")
        block.custom = part.kind == "custom"
        self._tool_use = True
        content = {"type": "tool_use", "id": block.call_id, "name": part.name, "input": {}}
        out = self._wire_start(block, content)
        if block.custom:
            out += _json_delta(block.wire or 0, _CUSTOM_OPEN)
        return out + self._delta(BlockDelta(index, part.arguments))

    def _delta(self, event: BlockDelta) -> bytes:
        block = self._open
        text = event.text
        if block is None or block.index != event.index or not text:
            return b""
        self._chars += len(text)
        if block.kind == "text":
            block.text.append(text)
            delta = {"type": "text_delta", "text": text}
        elif block.kind == "thinking":
            out = b"" if block.wire is not None else self._thinking_start(block)
            return out + _block_delta(block.wire or 0, {"type": "thinking_delta", "thinking": text})
        elif block.kind == "tool":
            if block.custom:
                return _json_delta(block.wire or 0, dumps(text)[1:-1])
            if block.lead:  # the SDKs parse every partial input: " " alone fails
                text = text.lstrip()
                if not text:
                    return b""
                block.lead = False
            return _json_delta(block.wire or 0, text)
        else:
            return b""
        return _block_delta(block.wire or 0, delta)

    def _thinking_start(self, block: _Open) -> bytes:
        return self._wire_start(block, {"type": "thinking", "thinking": "", "signature": ""})

    def _close(self) -> bytes:
        block = self._open
        if block is None:
            return b""
        self._open = None
        if block.kind == "thinking":
            return self._close_thinking(block)
        if block.wire is None:
            return b""
        out = b""
        if block.kind == "text" and not block.cited:
            for citation in anthropic_meta(block.meta).get("citations") or []:
                out += _block_delta(block.wire, {"type": "citations_delta", "citation": citation})
        elif block.kind == "tool" and block.custom:
            out += _json_delta(block.wire, _CUSTOM_CLOSE)
        out += _block_stop(block.wire)
        if block.kind == "tool" and foreign_meta(block.meta):
            out += self._carrier(block)
        return out

    def _close_thinking(self, block: _Open) -> bytes:
        own = anthropic_meta(block.meta)
        if block.wire is None and own.get("data"):
            redacted = {"type": "redacted_thinking", "data": own["data"]}
            return self._wire_start(block, redacted) + _block_stop(block.wire or 0)
        out = self._thinking_start(block) if block.wire is None else b""
        signature = own.get("signature") or carried_signature(block.meta)
        if signature:
            delta = {"type": "signature_delta", "signature": signature}
            out += _block_delta(block.wire or 0, delta)
        return out + _block_stop(block.wire or 0)

    def _carrier(self, tool: _Open) -> bytes:
        carrier = _Open(tool.index, "thinking", {})
        signature = carrier_block(tool.call_id, tool.meta)["signature"]
        out = self._thinking_start(carrier)
        out += _block_delta(carrier.wire or 0, {"type": "signature_delta", "signature": signature})
        return out + _block_stop(carrier.wire or 0)
