"""Responses SSE stream -> canonical stream events.

Blocks open at the events that start them (a content part, a function call
item, a reasoning item) and close at the matching ``.done``. A ``.done`` that
carries text no delta delivered (servers that skip deltas) is emitted as one
delta, so nothing is lost. Items with no canonical form (web_search_call, ...)
become complete ``Opaque`` blocks at ``output_item.done``. Works with both the
current wire shape and the March-2025 one (no ``sequence_number``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..blocks import Blocks
from ..canonical import (
    Env,
    Finish,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    StreamEvent,
    StreamStart,
    Text,
)
from ..decoding import DecoderSkeleton
from ..openai_errors import stream_error
from .common import NAME, as_dict, as_list, join_summary, stop_from_wire, usage_from_wire
from .response import call_from_item, reasoning_meta
from .web import is_search, parse_annotations
from .web import parse_item as parse_web_item

_Handler = Callable[["ResponsesStreamDecoder", dict[str, Any], list[StreamEvent]], None]


class ResponsesStreamDecoder(DecoderSkeleton):
    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._started = False
        self._blocks = Blocks()  # keys: ("item", output index) or ("part", output, content)
        self._got_delta = False  # the open block (or summary part) received deltas
        self._reasoning_seen = False  # the open reasoning block got summary events
        self._content_seen: set[Any] = set()  # message items whose parts were streamed
        self._items_seen: set[Any] = set()  # output indexes that had events of their own
        self._has_call = False
        self._has_refusal = False
        self._searches = 0  # web_search_call items (Responses usage does not count them)

    def _event(self, name: str | None, event: dict[str, Any], out: list[StreamEvent]) -> None:
        handler = _HANDLERS.get(str(event.get("type")))
        if handler is not None:
            handler(self, event, out)

    # --------------------------------------------------------------- blocks

    def _ensure_started(self, response: dict[str, Any], out: list[StreamEvent]) -> None:
        if self._started:
            return
        self._started = True
        created = response.get("created_at")
        out.append(
            StreamStart(
                id=str(response.get("id") or self._env.new_id("resp_")),
                model=str(response.get("model") or ""),
                usage=usage_from_wire(response.get("usage")),
                created=int(created) if isinstance(created, int | float) else None,
            )
        )

    def _start(self, key: tuple[Any, ...], part: Part, out: list[StreamEvent]) -> None:
        self._ensure_started({}, out)
        self._close(out)
        self._items_seen.add(key[1])
        self._got_delta = False
        self._blocks.start(key, part, out)

    def _delta(self, key: tuple[Any, ...], text: Any, out: list[StreamEvent]) -> None:
        if self._blocks.open_key == key and isinstance(text, str) and text:
            self._got_delta = True
            self._blocks.delta(key, text, out)

    def _close(self, out: list[StreamEvent], meta: dict[str, Any] | None = None) -> None:
        key = self._blocks.open_key
        if key is not None:
            self._blocks.end(key, out, {NAME: meta} if meta else None)

    def _is_open(self, key: tuple[Any, ...]) -> bool:
        return self._blocks.open_key == key

    # ------------------------------------------------------------ lifecycle

    def _created(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        self._ensure_started(as_dict(event.get("response")), out)

    def _finished(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        response = as_dict(event.get("response"))
        self._ensure_started(response, out)
        self._close(out)
        # Items only the final response carries (never streamed as events).
        for i, item in enumerate(as_list(response.get("output"))):
            if i not in self._items_seen and isinstance(item, dict):
                self._item_done({"item": item, "output_index": i}, out)
                self._close(out)
        self._done = True
        stop = stop_from_wire(
            response.get("status") or _STATUS.get(str(event.get("type"))),
            response.get("incomplete_details"),
            self._has_call,
            self._has_refusal,
        )
        usage = usage_from_wire(response.get("usage"))
        if usage is not None and self._searches:
            usage.web_search_requests = self._searches
        out.append(Finish(stop, usage))

    def _failed(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        error = as_dict(as_dict(event.get("response")).get("error"))
        self._fail(stream_error(error or {"message": "the response failed"}), out)

    def _error(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        # Live streams nest the details in "error"; the documented shape is flat.
        nested = event.get("error")
        self._fail(stream_error(nested if isinstance(nested, dict) else event), out)

    # ---------------------------------------------------------------- items

    def _item_added(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        item = as_dict(event.get("item"))
        kind = item.get("type")
        key = ("item", event.get("output_index"))
        if kind in ("function_call", "custom_tool_call"):
            self._has_call = True
            call = call_from_item(item)
            arguments, call.arguments = call.arguments, ""
            self._start(key, call, out)
            self._delta(key, arguments, out)
        elif kind == "reasoning":
            self._start(key, Reasoning(""), out)
            self._reasoning_seen = False

    def _item_done(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        item = as_dict(event.get("item"))
        kind = item.get("type")
        index = event.get("output_index")
        self._items_seen.add(index)
        key = ("item", index)
        if kind == "message":
            open_key = self._blocks.open_key
            if isinstance(open_key, tuple) and open_key[:2] == ("part", index):
                self._close(out)
            if index not in self._content_seen:
                self._message_without_parts(item, index, out)
        elif kind in ("function_call", "custom_tool_call"):
            self._call_done(item, key, out)
        elif kind == "reasoning":
            self._reasoning_done(item, key, out)
        elif kind == "web_search_call":
            for i, part in enumerate(parse_web_item(item)):
                self._searches += is_search(part)
                self._start((*key, i), part, out)
                self._close(out)
        elif isinstance(kind, str):
            self._start(key, Opaque(NAME, item), out)
            self._close(out)

    def _message_without_parts(
        self, item: dict[str, Any], index: Any, out: list[StreamEvent]
    ) -> None:
        """A message item delivered only whole (no content part events)."""
        for i, part in enumerate(as_list(item.get("content"))):
            part = as_dict(part)
            refusal = part.get("type") == "refusal"
            self._has_refusal |= refusal
            key = ("part", index, i)
            self._start(key, Refusal("") if refusal else Text(""), out)
            self._delta(key, part.get("refusal" if refusal else "text"), out)
            for citation in parse_annotations(part.get("annotations")):
                self._blocks.cite(key, citation, out)
            self._close(out)

    def _call_done(
        self, item: dict[str, Any], key: tuple[Any, ...], out: list[StreamEvent]
    ) -> None:
        field = "input" if item.get("type") == "custom_tool_call" else "arguments"
        if not self._is_open(key):
            self._item_added({"item": {**item, field: ""}, "output_index": key[1]}, out)
        if not self._got_delta:
            self._delta(key, item.get(field), out)
        self._close(out)

    def _reasoning_done(
        self, item: dict[str, Any], key: tuple[Any, ...], out: list[StreamEvent]
    ) -> None:
        if not self._is_open(key):
            self._start(key, Reasoning(""), out)
            self._reasoning_seen = False
        if not self._reasoning_seen:
            text = join_summary(as_list(item.get("summary")))
            self._delta(key, text or join_summary(as_list(item.get("content"))), out)
        self._close(out, reasoning_meta(item))

    # -------------------------------------------------------------- content

    def _part_added(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        index = event.get("output_index")
        self._content_seen.add(index)
        refusal = as_dict(event.get("part")).get("type") == "refusal"
        self._has_refusal |= refusal
        key = ("part", index, event.get("content_index"))
        self._start(key, Refusal("") if refusal else Text(""), out)

    def _part_done(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = ("part", event.get("output_index"), event.get("content_index"))
        if self._is_open(key):
            self._close(out)

    def _text_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = ("part", event.get("output_index"), event.get("content_index"))
        if not self._is_open(key):  # some servers skip content_part.added
            refusal = str(event.get("type")).startswith("response.refusal")
            self._has_refusal |= refusal
            self._content_seen.add(event.get("output_index"))
            self._start(key, Refusal("") if refusal else Text(""), out)
        self._delta(key, event.get("delta"), out)

    def _text_done(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = ("part", event.get("output_index"), event.get("content_index"))
        text = event.get("refusal") if "refusal" in event else event.get("text")
        if not self._is_open(key) and text:
            self._text_delta({**event, "delta": ""}, out)
        if self._is_open(key) and not self._got_delta:
            self._delta(key, text, out)

    def _annotation(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = ("part", event.get("output_index"), event.get("content_index"))
        for citation in parse_annotations([event.get("annotation")]):
            self._blocks.cite(key, citation, out)

    def _args_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        self._delta(("item", event.get("output_index")), event.get("delta"), out)

    # ------------------------------------------------------------ reasoning

    def _summary_added(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = ("item", event.get("output_index"))
        if not self._is_open(key):
            self._start(key, Reasoning(""), out)
        self._reasoning_seen = True
        self._got_delta = False

    def _summary_delta(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        key = ("item", event.get("output_index"))
        if not self._is_open(key):
            self._summary_added(event, out)
        self._reasoning_seen = True
        self._delta(key, event.get("delta"), out)

    def _summary_done(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        if not self._got_delta:
            self._delta(("item", event.get("output_index")), event.get("text"), out)


_STATUS = {"response.completed": "completed", "response.incomplete": "incomplete"}

_HANDLERS: dict[str, _Handler] = {
    "response.created": ResponsesStreamDecoder._created,
    "response.queued": ResponsesStreamDecoder._created,
    "response.in_progress": ResponsesStreamDecoder._created,
    "response.completed": ResponsesStreamDecoder._finished,
    "response.incomplete": ResponsesStreamDecoder._finished,
    "response.failed": ResponsesStreamDecoder._failed,
    "error": ResponsesStreamDecoder._error,
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.content_part.added": ResponsesStreamDecoder._part_added,
    "response.content_part.done": ResponsesStreamDecoder._part_done,
    "response.output_text.annotation.added": ResponsesStreamDecoder._annotation,
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.refusal.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.refusal.done": ResponsesStreamDecoder._text_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._args_delta,
    "response.custom_tool_call_input.delta": ResponsesStreamDecoder._args_delta,
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._summary_added,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._summary_delta,
    "response.reasoning_summary_text.done": ResponsesStreamDecoder._summary_done,
    "response.reasoning_text.delta": ResponsesStreamDecoder._summary_delta,
    "response.reasoning_text.done": ResponsesStreamDecoder._summary_done,
}
