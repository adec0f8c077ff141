"""Anthropic Messages SSE -> canonical stream events.

Blocks map one to one, renumbered densely in the order they open. Server-side
blocks (``server_tool_use``, ``web_search_tool_result``, ...) become complete
``Opaque`` parts, emitted when they close because their input streams in as
JSON fragments. Signatures, redacted data and citations arrive in
``BlockEnd.meta["anthropic"]``. The stream is complete only at
``message_stop``; an ``error`` event becomes a ``StreamError``.
"""

from __future__ import annotations

import json
from typing import Any

from ..blocks import Blocks
from ..canonical import (
    Env,
    Finish,
    Meta,
    Opaque,
    Part,
    Reasoning,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    unwrap_meta,
)
from ..decoding import DecoderSkeleton
from ..sse import dumps
from .common import NAME, stop_from_wire, usage_from_wire
from .errors import error_from_object
from .web import parse_citation, parse_web_block


class _Block:
    """The open block: its key in :class:`Blocks` and what arrives at its end."""

    __slots__ = ("key", "kind", "meta", "citations", "opaque", "fragments", "sent")

    def __init__(self, key: int, kind: str) -> None:
        self.key = key
        self.kind = kind  # text | thinking | tool | opaque
        self.meta: dict[str, Any] = {}
        self.citations: list[Any] = []
        self.opaque: dict[str, Any] | None = None
        self.fragments: list[str] = []
        self.sent = False  # any delta emitted (a tool call without one gets "{}")


def _end_meta(own: dict[str, Any]) -> Meta:
    """Anthropic's data for the block, or, when the signature is an envelope
    this proxy made for a client (a stream replayed to us), what it carries."""
    signature = own.get("signature")
    carried = unwrap_meta(signature) if isinstance(signature, str) else None
    if carried is not None:
        carried.pop(NAME, None)  # a tool-call carrier's marker: the call is gone
        return carried
    return {NAME: own} if own else {}


class AnthropicStreamDecoder(DecoderSkeleton):
    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._started = False
        self._blocks = Blocks()
        self._keys = 0
        self._open: _Block | None = None
        self._wire_index: int | None = None
        self._usage: dict[str, Any] = {}
        self._stop: Any = None
        self._stop_sequence: str | None = None

    def _skip(self, name: str | None, data: str | bytes, out: list[StreamEvent]) -> bool:
        return name == "ping"

    def _event(self, name: str | None, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        self._dispatch(obj, out)

    def _close(self, out: list[StreamEvent]) -> None:
        if self._open is not None:
            self._close_block(out)

    # ---------------------------------------------------------------- dispatch

    def _dispatch(self, data: dict[str, Any], out: list[StreamEvent]) -> None:
        kind = data.get("type")
        if kind == "content_block_delta":
            self._delta(data, out)
        elif kind == "content_block_start":
            self._block_start(data, out)
        elif kind == "content_block_stop":
            if self._open is not None and data.get("index") == self._wire_index:
                self._close_block(out)
        elif kind == "message_start":
            self._message_start(data.get("message"), out)
        elif kind == "message_delta":
            self._message_delta(data)
        elif kind == "message_stop":
            self._message_stop(out)
        elif kind == "error":
            self._fail(error_from_object(data, 0), out)
        # ping and event types added later carry nothing we need

    def _message_start(self, message: Any, out: list[StreamEvent]) -> None:
        if self._started or not isinstance(message, dict):
            return
        self._started = True
        usage = message.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)
        out.append(
            StreamStart(
                id=str(message.get("id") or self._env.new_id("msg_")),
                model=str(message.get("model") or ""),
                usage=usage_from_wire(usage),
            )
        )
        # Content, a stop reason, may already be here (programmatic tool
        # calling sends a whole tool_use and stop_reason, then message_stop).
        if message.get("stop_reason") is not None:
            self._stop = message["stop_reason"]
            self._stop_sequence = message.get("stop_sequence")
        content = message.get("content")
        for i, block in enumerate(content if isinstance(content, list) else ()):
            self._block_start({"index": ("start", i), "content_block": block}, out)
            if self._open is not None:
                self._close_block(out)

    def _ensure_started(self, out: list[StreamEvent]) -> None:
        if not self._started:
            self._started = True
            out.append(StreamStart(id=self._env.new_id("msg_"), model=""))

    def _block_start(self, data: dict[str, Any], out: list[StreamEvent]) -> None:
        self._ensure_started(out)
        if self._open is not None:
            self._close_block(out)
        block = data.get("content_block")
        if not isinstance(block, dict):
            return
        self._wire_index = data.get("index")
        kind = block.get("type")
        if kind == "text":
            opened = self._open_block("text", Text(""), out)
            self._text(opened, block.get("text"), out)
            if isinstance(block.get("citations"), list):  # a whole block (message_start)
                opened.citations.extend(block["citations"])
                for raw in block["citations"]:
                    citation = parse_citation(raw)
                    if citation is not None:
                        self._blocks.cite(opened.key, citation, out)
        elif kind == "thinking":
            opened = self._open_block("thinking", Reasoning(), out)
            self._text(opened, block.get("thinking"), out)
            if block.get("signature"):
                opened.meta["signature"] = block["signature"]
        elif kind == "redacted_thinking":
            opened = self._open_block("thinking", Reasoning(), out)
            opened.meta["data"] = block.get("data", "")
        elif kind == "tool_use":
            self._tool_start(block, out)
        else:  # emitted whole when it closes: its input streams in as JSON
            self._open_block("opaque", None, out).opaque = dict(block)

    def _open_block(self, kind: str, part: Part | None, out: list[StreamEvent]) -> _Block:
        self._keys += 1
        self._open = _Block(self._keys, kind)
        if part is not None:
            self._blocks.start(self._keys, part, out)
        return self._open

    def _tool_start(self, block: dict[str, Any], out: list[StreamEvent]) -> None:
        call_id = block.get("id") or self._env.new_id("toolu_")
        part = ToolCall(str(call_id), str(block.get("name") or ""))
        opened = self._open_block("tool", part, out)
        given = block.get("input")
        if isinstance(given, dict) and given:
            # Not what Anthropic does (input arrives as deltas), but some
            # compatible servers send the whole input up front.
            self._text(opened, dumps(given), out)

    def _delta(self, data: dict[str, Any], out: list[StreamEvent]) -> None:
        block, delta = self._open, data.get("delta")
        if block is None or data.get("index") != self._wire_index or not isinstance(delta, dict):
            return
        kind = delta.get("type")
        if kind == "text_delta":
            self._text(block, delta.get("text"), out)
        elif kind == "thinking_delta":
            self._text(block, delta.get("thinking"), out)
        elif kind == "input_json_delta":
            fragment = delta.get("partial_json")
            if block.kind == "opaque" and isinstance(fragment, str):
                block.fragments.append(fragment)
            else:
                self._text(block, fragment, out)
        elif kind == "signature_delta":
            block.meta["signature"] = delta.get("signature")
        elif kind == "citations_delta":
            block.citations.append(delta.get("citation"))
            citation = parse_citation(delta.get("citation"))
            if citation is not None:
                self._blocks.cite(block.key, citation, out)

    def _text(self, block: _Block, text: Any, out: list[StreamEvent]) -> None:
        if isinstance(text, str) and text and block.kind != "opaque":
            block.sent = True
            self._blocks.delta(block.key, text, out)

    def _close_block(self, out: list[StreamEvent]) -> None:
        block = self._open
        assert block is not None
        self._open = None
        self._wire_index = None
        if block.kind == "opaque":
            self._blocks.start(block.key, _opaque(block), out)
            self._blocks.end(block.key, out)
            return
        if block.kind == "tool" and not block.sent:
            self._blocks.delta(block.key, "{}", out)  # no input: an empty object, as JSON
        if block.citations:
            block.meta["citations"] = block.citations
        self._blocks.end(block.key, out, _end_meta(block.meta))

    # ------------------------------------------------------------------ ending

    def _message_delta(self, data: dict[str, Any]) -> None:
        delta = data.get("delta")
        if isinstance(delta, dict):
            self._stop = delta.get("stop_reason", self._stop)
            self._stop_sequence = delta.get("stop_sequence")
        usage = data.get("usage")
        if isinstance(usage, dict):
            # Totals so far: later values replace earlier ones, absent ones stay.
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _message_stop(self, out: list[StreamEvent]) -> None:
        self._ensure_started(out)
        if self._open is not None:
            self._close_block(out)
        self._done = True
        usage = usage_from_wire(self._usage) if self._usage else None
        out.append(Finish(stop_from_wire(self._stop), usage, self._stop_sequence))


def _opaque(block: _Block) -> Part:
    data = block.opaque or {}
    raw = "".join(block.fragments)
    if raw:
        try:
            data["input"] = json.loads(raw)
        except ValueError:
            data["input"] = {}
    return parse_web_block(data) or Opaque(NAME, data)
