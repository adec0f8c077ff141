"""chat.completion.chunk SSE bytes -> canonical stream events."""

from __future__ import annotations

import json
from typing import Any

from ..canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Env,
    ErrorInfo,
    Finish,
    Part,
    Reasoning,
    Refusal,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
)
from ..sse import SSEDecoder
from .common import NAME, REASONING_FIELDS, parse_usage, stop_reason, str_field
from .errors import error_from_payload
from .parts import reasoning_meta

_CUT = "upstream stream ended before completion"


class ChatStreamDecoder:
    """One provider stream. Blocks open in the order deltas arrive; a delta
    of another kind (or another tool call) closes the open block first.
    ``Finish`` waits for the usage chunk that follows ``finish_reason``
    (``include_usage``), or for ``[DONE]`` / the end of the bytes."""

    def __init__(self, env: Env) -> None:
        self._env = env
        self._sse = SSEDecoder()
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: int | None = None
        self._open_kind = ""  # "text", "reasoning", "refusal" or "tool"
        # provider tool index -> (call id, block index, is custom)
        self._tools: dict[Any, tuple[str, int, bool]] = {}
        self._open_tool: Any = None
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._saw_tool = False
        self._saw_refusal = False

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for sse in self._sse.feed(chunk):
            if not self._done:
                self._event(sse.event, sse.data, events)
        return events

    def finish(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for sse in self._sse.finish():
            if not self._done:
                self._event(sse.event, sse.data, events)
        if not self._done:
            self._end(events)
        return events

    # ------------------------------------------------------------------ events

    def _event(self, name: str | None, data: str, events: list[StreamEvent]) -> None:
        if data.startswith("[DONE]"):
            self._end(events)
            return
        if not data.strip():
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            message = data[:1000] if name == "error" else "upstream sent invalid JSON in its stream"
            self._fail(ErrorInfo(502, "server", message), events)
            return
        if not isinstance(chunk, dict):
            return
        if chunk.get("error") or name == "error":
            info = error_from_payload(chunk)
            self._fail(info or ErrorInfo(500, "server", "upstream stream error"), events)
            return
        if chunk.get("object") == "":
            return  # Azure's prompt-filter preamble carries nothing for us
        self._chunk(chunk, events)

    def _chunk(self, chunk: dict[str, Any], events: list[StreamEvent]) -> None:
        if not self._started:
            self._started = True
            created = chunk.get("created")
            events.append(
                StreamStart(
                    id=str_field(chunk, "id"),
                    model=str_field(chunk, "model"),
                    created=created if isinstance(created, int) else None,
                )
            )
        usage = chunk.get("usage")
        if usage is None and isinstance(chunk.get("x_groq"), dict):
            usage = chunk["x_groq"].get("usage")  # Groq reports stream usage here
        if usage is not None:
            self._usage = parse_usage(usage) or self._usage
        choice = _first_choice(chunk.get("choices"))
        if choice is not None:
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, events)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self._finish_reason = reason
                self._close(events)
        if self._finish_reason is not None and self._usage is not None:
            self._emit_finish(events)

    def _delta(self, delta: dict[str, Any], events: list[StreamEvent]) -> None:
        for field in REASONING_FIELDS:  # a few proxies send both with the same text
            text = delta.get(field)
            if isinstance(text, str) and text:
                self._text("reasoning", text, events, field)
                break
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text("text", content, events)
        elif isinstance(content, list):  # Mistral streams content as parts
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                    self._text("text", part["text"], events)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._saw_refusal = True
            self._text("refusal", refusal, events)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                if isinstance(call, dict):
                    self._tool(call, events)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            self._tool({"index": "function_call", "function": legacy}, events)

    # ------------------------------------------------------------------ blocks

    def _open_block(self, part: Part, kind: str, events: list[StreamEvent]) -> int:
        self._close(events)
        index = self._next_index
        self._next_index += 1
        self._open, self._open_kind = index, kind
        events.append(BlockStart(index, part))
        return index

    def _close(self, events: list[StreamEvent]) -> None:
        if self._open is not None:
            events.append(BlockEnd(self._open))
            self._open, self._open_kind, self._open_tool = None, "", None

    def _text(self, kind: str, text: str, events: list[StreamEvent], field: str = "") -> None:
        if self._open_kind != kind:
            part: Part
            if kind == "reasoning":
                part = Reasoning("", meta={NAME: reasoning_meta(field)})
            else:
                part = Refusal("") if kind == "refusal" else Text("")
            self._open_block(part, kind, events)
        assert self._open is not None
        events.append(BlockDelta(self._open, text))

    def _tool(self, call: dict[str, Any], events: list[StreamEvent]) -> None:
        call_id = str_field(call, "id") or None
        key = call.get("index")
        if key is None:  # no index: a new id starts a call, otherwise it continues
            key = call_id if call_id and call_id not in self._tools else self._open_tool
        known = self._tools.get(key)
        custom = call.get("custom")
        if known is None or (call_id is not None and call_id != known[0]):
            # A new call (or a provider reusing index 0 for parallel calls).
            # Gateways echo an empty "custom" on function calls: trust "type".
            is_custom = call.get("type") == "custom" and isinstance(custom, dict)
            known = self._new_tool(key, call_id, is_custom, custom if is_custom else call, events)
        body = custom if known[2] else call.get("function")
        fragment = (
            body.get("input" if known[2] else "arguments") if isinstance(body, dict) else None
        )
        if isinstance(fragment, dict | list):  # complete arguments as JSON
            fragment = json.dumps(fragment, ensure_ascii=False)
        # A fragment for a call that is no longer open cannot be placed
        # (providers stream calls one after another); it is dropped.
        if isinstance(fragment, str) and fragment and known[1] == self._open:
            events.append(BlockDelta(known[1], fragment))

    def _new_tool(
        self, key: Any, call_id: str | None, is_custom: bool, body: Any, events: list[StreamEvent]
    ) -> tuple[str, int, bool]:
        self._saw_tool = True
        spec = body if is_custom else body.get("function")
        name = str_field(spec, "name") if isinstance(spec, dict) else ""
        call_id = call_id or self._env.new_id("call_")
        part = ToolCall(call_id, name, kind="custom" if is_custom else "function")
        known = (call_id, self._open_block(part, "tool", events), is_custom)
        self._tools[key] = known
        self._open_tool = key
        return known

    # ------------------------------------------------------------------ endings

    def _emit_finish(self, events: list[StreamEvent]) -> None:
        self._close(events)
        reason = stop_reason(
            self._finish_reason, has_tool_calls=self._saw_tool, has_refusal=self._saw_refusal
        )
        events.append(Finish(reason, self._usage))
        self._done = True

    def _end(self, events: list[StreamEvent]) -> None:
        """``[DONE]`` or the end of the bytes: complete only after a finish_reason."""
        if self._finish_reason is not None:
            self._emit_finish(events)
        else:
            self._fail(ErrorInfo(502, "server", _CUT), events)

    def _fail(self, error: ErrorInfo, events: list[StreamEvent]) -> None:
        self._close(events)
        events.append(StreamError(error))
        self._done = True


def _first_choice(choices: Any) -> dict[str, Any] | None:
    """Choice 0 (clients asking for ``n`` > 1 get several interleaved)."""
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None
