"""Canonical stream events -> Responses SSE stream.

Every event carries ``sequence_number`` and is framed ``event: <type>`` plus
``data: <json>``. Consecutive text/refusal blocks share one message item (one
content part each), as the API streams them. The terminal event repeats the
whole response with every output item, so finished items are kept (that is
the format's contract, and what the SDK's accumulator checks against).
A ``StreamError`` closes the open items (``incomplete``), then becomes an
``error`` event and ``response.failed``.
"""

from __future__ import annotations

from typing import Any

from ..canonical import (
    BlockCitation,
    BlockDelta,
    BlockEnd,
    BlockStart,
    Citation,
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
    WebSearchCall,
    WebSearchResults,
    merge_meta,
)
from ..openai_errors import responses_stream_error
from ..sse import dumps, encode_event
from .common import (
    FAILED_ERROR,
    NAME,
    foreign_meta,
    message_item,
    own_meta,
    reasoning_item,
    refusal_part,
    status_for_stop,
    summary_list,
    text_part,
    tool_call_carrier,
    tool_call_item,
    usage_to_wire,
)
from .response import response_id, response_object
from .web import call_item, render_annotation

_CUT = ErrorInfo(502, "server", "stream ended before completion")


class _Block:
    """The open canonical block and where it lives on the wire."""

    __slots__ = (
        "annotations",
        "chunks",
        "whole",
        "content_index",
        "item",
        "output_index",
        "part",
        "summary_open",
    )

    def __init__(self, part: Part, item: dict[str, Any], output_index: int) -> None:
        self.part = part
        self.item = item
        self.output_index = output_index
        self.content_index = 0
        self.chunks: list[str] = []
        self.summary_open = False
        self.annotations: list[dict[str, Any]] = []
        self.whole: list[Citation] = []  # citations of the whole text, known at its end


class ResponsesStreamEncoder:
    def __init__(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> None:
        self._env = env
        self._model = model
        self._seq = 0
        self._id = ""
        self._created = 0
        self._started = False
        self._ended = False
        self._usage: Usage | None = None
        self._output: list[dict[str, Any]] = []  # finished items, in output order
        self._items = 0  # output indexes handed out
        self._message: dict[str, Any] | None = None  # open message item
        self._message_index = 0
        self._block: _Block | None = None
        self._refused = False  # a refusal part was sent
        self._search: tuple[int, WebSearchCall, str] | None = None
        """A search whose item waits for its sources: output index, the call
        under its item id, the call id its results name."""
        self.known_ids: dict[int, str] = {}
        """Item ids by output index the client already has (a passed-through
        stream this encoder goes on with: see ``StreamTranslator.break_off``)."""

    # ------------------------------------------------------------ interface

    def feed(self, event: StreamEvent) -> bytes:
        if self._ended:
            return b""
        out: list[bytes] = []
        if isinstance(event, StreamError):
            self._error(event.error, out)
            return b"".join(out)
        if not self._started:
            self._start(event if isinstance(event, StreamStart) else None, out)
        if isinstance(event, BlockStart):
            self._block_start(event.part, out)
        elif isinstance(event, BlockDelta):
            self._block_delta(event.text, out)
        elif isinstance(event, BlockEnd):
            self._block_end(event.meta, out)
        elif isinstance(event, BlockCitation):
            self._cite(event, out)
        elif isinstance(event, Finish):
            self._finish(event, out)
        return b"".join(out)

    def finish(self) -> bytes:
        if self._ended:
            return b""
        out: list[bytes] = []
        self._error(_CUT, out)  # a stream that never finished is a failure
        return b"".join(out)

    def ping(self) -> bytes:
        return b": ping\n\n"

    # ---------------------------------------------------------------- framing

    def _emit(self, out: list[bytes], kind: str, fields: dict[str, Any]) -> None:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        out.append(encode_event(dumps(event), kind))

    def _response(self, status: str) -> dict[str, Any]:
        return response_object(self._id, self._model, self._created, status)

    def _start(self, start: StreamStart | None, out: list[bytes]) -> None:
        self._started = True
        self._id = response_id(start.id if start else None, self._env)
        created = start.created if start else None
        self._created = created if created is not None else self._env.now()
        self._usage = start.usage if start else None
        self._emit(out, "response.created", {"response": self._response("in_progress")})
        self._emit(out, "response.in_progress", {"response": self._response("in_progress")})

    # ----------------------------------------------------------------- blocks

    def _new_item(self, item: dict[str, Any], out: list[bytes]) -> int:
        index = self._items
        self._items += 1
        self._emit(out, "response.output_item.added", {"output_index": index, "item": item})
        return index

    def _item_done(self, index: int, item: dict[str, Any], out: list[bytes]) -> None:
        self._output.append(item)
        self._emit(out, "response.output_item.done", {"output_index": index, "item": item})

    def _block_start(self, part: Part, out: list[bytes]) -> None:
        if self._block is not None:
            self._block_end({}, out)
        if isinstance(part, WebSearchResults) and self._search is not None:
            if part.call_id == self._search[2]:
                self._search_done(part, out)
                return
        self._search_done(None, out)
        if isinstance(part, WebSearchCall):
            self._close_message(out)
            self._search_start(part, out)
            return
        if isinstance(part, Text | Refusal):
            self._text_start(part, out)
            return
        self._close_message(out)
        if isinstance(part, Reasoning):
            item = {"id": self._item_id(part.meta, "rs_"), "type": "reasoning", "summary": []}
        elif isinstance(part, ToolCall):
            prefix = "ctc_" if part.kind == "custom" else "fc_"
            call = ToolCall(part.id, part.name, "", part.kind, dict(part.meta))
            item = tool_call_item(self._item_id(part.meta, prefix), call, "in_progress")
        else:
            if isinstance(part, Opaque) and part.format == NAME:
                index = self._new_item(part.data, out)
                self._item_done(index, part.data, out)
            return  # media, tool results, foreign opaque items: nothing to show
        self._block = _Block(part, item, self._new_item(item, out))
        initial = part.text if isinstance(part, Reasoning) else part.arguments
        if initial:
            self._block_delta(initial, out)

    def _search_start(self, part: WebSearchCall, out: list[bytes]) -> None:
        """A search as the API streams it: the item added, in progress,
        searching; completed (unless it failed) and the item done when its
        sources (the next block) are known."""
        item = call_item(part, None, self._env, "in_progress")
        added = {"id": item["id"], "type": "web_search_call", "status": "in_progress"}
        index = self._new_item(added, out)
        where = {"item_id": item["id"], "output_index": index}
        for step in ("in_progress", "searching"):
            self._emit(out, f"response.web_search_call.{step}", where)
        call = WebSearchCall(item["id"], part.name, part.query, part.url, meta=part.meta)
        self._search = (index, call, part.id)

    def _search_done(self, found: WebSearchResults | None, out: list[bytes]) -> None:
        if self._search is None:
            return
        (index, call, _), self._search = self._search, None
        item = call_item(call, found, self._env)
        if item.get("status") != "failed":  # a failed search has no completed event
            where = {"item_id": item["id"], "output_index": index}
            self._emit(out, "response.web_search_call.completed", where)
        self._item_done(index, item, out)

    def _cite(self, event: BlockCitation, out: list[bytes]) -> None:
        block = self._block
        if block is None or not isinstance(block.part, Text):
            return
        if event.citation.start is None:  # Anthropic's: the block's text, still to come
            block.whole.append(event.citation)
            return
        self._annotate(block, event.citation, out)

    def _annotate(self, block: _Block, citation: Citation, out: list[bytes]) -> None:
        note = render_annotation(citation, sum(len(c) for c in block.chunks))
        fields = {**self._where(block), "annotation_index": len(block.annotations)}
        block.annotations.append(note)
        self._emit(out, "response.output_text.annotation.added", {**fields, "annotation": note})

    def _item_id(self, meta: Meta, prefix: str) -> str:
        known = self.known_ids.get(self._items)  # the item the client already has open
        if known is not None:
            return known
        value = own_meta(meta).get("id")
        return value if isinstance(value, str) and value else self._env.new_id(prefix)

    def _text_start(self, part: Text | Refusal, out: list[bytes]) -> None:
        self._refused |= isinstance(part, Refusal)
        if self._message is None:
            item_id = self.known_ids.get(self._items) or self._env.new_id("msg_")
            self._message = message_item(item_id, [], "in_progress")
            self._message_index = self._new_item(dict(self._message), out)
        block = _Block(part, self._message, self._message_index)
        block.content_index = len(self._message["content"])
        empty = text_part("") if isinstance(part, Text) else refusal_part("")
        self._emit(out, "response.content_part.added", {**self._where(block), "part": empty})
        self._block = block
        if part.text:
            self._block_delta(part.text, out)

    def _where(self, block: _Block, content: bool = True) -> dict[str, Any]:
        where: dict[str, Any] = {"item_id": block.item["id"], "output_index": block.output_index}
        if content:
            where["content_index"] = block.content_index
        return where

    def _block_delta(self, text: str, out: list[bytes]) -> None:
        block = self._block
        if block is None or not text:
            return
        block.chunks.append(text)
        part = block.part
        if isinstance(part, Text):
            fields = {**self._where(block), "delta": text, "logprobs": []}
            self._emit(out, "response.output_text.delta", fields)
        elif isinstance(part, Refusal):
            self._emit(out, "response.refusal.delta", {**self._where(block), "delta": text})
        elif isinstance(part, Reasoning):
            self._summary_delta(block, text, out)
        elif isinstance(part, ToolCall):
            kind = "custom_tool_call_input" if part.kind == "custom" else "function_call_arguments"
            fields = {**self._where(block, content=False), "delta": text}
            self._emit(out, f"response.{kind}.delta", fields)

    def _summary_delta(self, block: _Block, text: str, out: list[bytes]) -> None:
        where = {**self._where(block, content=False), "summary_index": 0}
        if not block.summary_open:
            block.summary_open = True
            part = {"type": "summary_text", "text": ""}
            self._emit(out, "response.reasoning_summary_part.added", {**where, "part": part})
        self._emit(out, "response.reasoning_summary_text.delta", {**where, "delta": text})

    def _block_end(self, meta: Meta, out: list[bytes], status: str = "completed") -> None:
        block, self._block = self._block, None
        if block is None:
            return
        text = "".join(block.chunks)
        part = block.part
        if isinstance(part, Text | Refusal):
            self._text_end(block, text, out)
            return
        merged: Meta = {k: dict(v) for k, v in part.meta.items()}
        merge_meta(merged, meta)
        if isinstance(part, Reasoning):
            self._reasoning_end(block, Reasoning(text, merged), out)
        elif isinstance(part, ToolCall):
            call = ToolCall(part.id, part.name, text, part.kind, merged)
            self._call_end(block, call, out, status)

    def _text_end(self, block: _Block, text: str, out: list[bytes]) -> None:
        where = self._where(block)
        for citation in block.whole:
            self._annotate(block, citation, out)
        if isinstance(block.part, Text):
            done = text_part(text)
            done["annotations"] = block.annotations
            self._emit(out, "response.output_text.done", {**where, "text": text, "logprobs": []})
        else:
            done = refusal_part(text)
            self._emit(out, "response.refusal.done", {**where, "refusal": text})
        self._emit(out, "response.content_part.done", {**where, "part": done})
        block.item["content"].append(done)

    def _reasoning_end(self, block: _Block, part: Reasoning, out: list[bytes]) -> None:
        if block.summary_open:
            where = {**self._where(block, content=False), "summary_index": 0}
            self._emit(out, "response.reasoning_summary_text.done", {**where, "text": part.text})
            done_part = summary_list(part.text)[0]
            self._emit(out, "response.reasoning_summary_part.done", {**where, "part": done_part})
        item = reasoning_item(block.item["id"], part)
        item["summary"] = summary_list(part.text)  # what was streamed, not the upstream's split
        self._item_done(block.output_index, item, out)

    def _call_end(
        self, block: _Block, call: ToolCall, out: list[bytes], status: str = "completed"
    ) -> None:
        where = self._where(block, content=False)
        if call.kind == "custom":
            fields = {**where, "input": call.arguments}
            self._emit(out, "response.custom_tool_call_input.done", fields)
        else:
            fields = {**where, "arguments": call.arguments, "name": call.name}
            self._emit(out, "response.function_call_arguments.done", fields)
        item = tool_call_item(block.item["id"], call, status)
        self._item_done(block.output_index, item, out)
        foreign = foreign_meta(call.meta)
        if foreign is not None:
            carrier = tool_call_carrier(self._env.new_id("rs_"), call, foreign)
            self._item_done(self._new_item(carrier, out), carrier, out)

    def _close_message(self, out: list[bytes], status: str = "completed") -> None:
        if self._message is None:
            return
        item, self._message = self._message, None
        item["status"] = status
        self._item_done(self._message_index, item, out)

    # --------------------------------------------------------------- the end

    def _finish(self, event: Finish, out: list[bytes]) -> None:
        self._block_end({}, out)
        self._search_done(None, out)
        if event.stop_reason == "refusal" and not self._refused:
            # Responses says "refused" only with a refusal part (Anthropic's
            # refusal stop may come with no content at all).
            self._block_start(Refusal(""), out)
            self._block_end({}, out)
        status, incomplete = status_for_stop(event.stop_reason)
        self._close_message(out, "incomplete" if status == "incomplete" else "completed")
        self._ended = True
        response = self._response(status)
        response["output"] = self._output
        response["incomplete_details"] = incomplete
        response["usage"] = usage_to_wire(event.usage or self._usage)
        if status == "failed":
            response["error"] = dict(FAILED_ERROR)
        kind = {"completed": "response.completed", "incomplete": "response.incomplete"}
        self._emit(out, kind.get(status, "response.failed"), {"response": response})

    def _error(self, error: ErrorInfo, out: list[bytes]) -> None:
        """Every open item is closed first (``incomplete``, with what was
        streamed), so ``response.failed`` lists everything the client saw."""
        if self._started:
            self._block_end({}, out, "incomplete")
            self._search_done(None, out)
            self._close_message(out, "incomplete")
        self._ended = True
        fields, failed = responses_stream_error(error)
        self._emit(out, "error", fields)
        response = self._response("failed")
        if self._started:
            response["output"] = self._output
        if self._id == "":
            response["id"] = self._env.new_id("resp_")
        response["error"] = failed
        self._emit(out, "response.failed", {"response": response})
