"""chat.completion.chunk SSE bytes -> canonical stream events."""

from __future__ import annotations

import json
from typing import Any

from ..blocks import Blocks, JsonEnd
from ..canonical import (
    Citation,
    Env,
    ErrorInfo,
    Finish,
    Reasoning,
    Refusal,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
)
from ..decoding import CUT, DecoderSkeleton
from ..openai_errors import error_from_payload
from .common import NAME, REASONING_FIELDS, parse_usage, stop_reason, str_field
from .parts import reasoning_meta
from .web import parse_annotations


class ChatStreamDecoder(DecoderSkeleton):
    """One provider stream. Blocks open in the order deltas arrive; a delta
    of another kind closes the open block first. A tool call whose header
    arrives while another call's arguments are still incomplete JSON is held
    (parallel calls with interleaved fragments) and emitted whole, in order,
    when the open one completes; calls one after another stream as they come.
    ``Finish`` waits for the usage chunk that follows ``finish_reason``
    (``include_usage``), or for ``[DONE]`` / the end of the bytes.

    ``[DONE]`` is the protocol's own end: a stream that says it but never
    set ``finish_reason`` (Snowflake Cortex, some OpenRouter upstreams) is
    complete, its stop inferred (tool calls: tool use; else a plain stop).
    Only bytes that end with neither are a cut stream."""

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._started = False
        self._blocks = Blocks()
        self._keys = 0  # block keys: one per text run or call
        # provider tool index -> (call id, block key, is custom)
        self._tools: dict[Any, tuple[str, int, bool]] = {}
        self._args: dict[int, list[str]] = {}  # arguments so far of calls not yet ended
        self._scans: dict[int, JsonEnd] = {}
        self._open_tool: Any = None
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._saw_tool = False
        self._saw_refusal = False
        self._content = 0  # characters of message content so far (annotations index it)
        self._text_block: tuple[int, int] | None = None  # last text block: key, content offset
        self._uncited: list[Citation] = []  # annotations that came before any text

    # ------------------------------------------------------------------ events

    def _skip(self, name: str | None, data: str | bytes, out: list[StreamEvent]) -> bool:
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        if text.startswith("[DONE]"):
            self._end(out, done=True)
            return True
        return not text.strip()

    def _event(self, name: str | None, chunk: dict[str, Any], out: list[StreamEvent]) -> None:
        if chunk.get("error") or name == "error":
            info = error_from_payload(chunk)
            self._fail(info or ErrorInfo(500, "server", "upstream stream error"), out)
            return
        if chunk.get("object") == "":
            return  # Azure's prompt-filter preamble carries nothing for us
        self._chunk(chunk, out)

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
                self._text(Reasoning, text, events, field)
                break
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text(Text, content, events)
        elif isinstance(content, list):  # Mistral streams content as parts
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                    self._text(Text, part["text"], events)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._saw_refusal = True
            self._text(Refusal, refusal, events)
        if delta.get("annotations"):
            self._cite(parse_annotations(delta["annotations"]), events)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                if isinstance(call, dict):
                    self._tool(call, events)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict) and (legacy.get("name") or "function_call" in self._tools):
            # Without a name it only continues a legacy call already started:
            # an empty one ({"name": "", "arguments": ""}) beside real
            # tool_calls is no call.
            self._tool({"index": "function_call", "function": legacy}, events)

    # ------------------------------------------------------------------ blocks

    def _text(
        self,
        kind: type[Text | Reasoning | Refusal],
        text: str,
        events: list[StreamEvent],
        field: str = "",
    ) -> None:
        blocks = self._blocks
        if type(blocks.part) is not kind:
            blocks.end_all(events)  # another kind of content ends the calls too
            part = kind("")
            if isinstance(part, Reasoning):
                part.meta[NAME] = reasoning_meta(field)
            self._keys += 1
            blocks.start(self._keys, part, events)
            if kind is Text:
                self._text_block = (self._keys, self._content)
        blocks.delta(blocks.open_key, text, events)
        if kind is Text:
            self._content += len(text)
            if self._uncited:
                cited, self._uncited = self._uncited, []
                self._cite(cited, events)

    def _cite(self, citations: list[Citation], events: list[StreamEvent]) -> None:
        """``url_citation`` annotations (OpenAI's search models send them in a
        delta of their own near the end): spans index the whole message
        content, a block's start at its offset in it. Annotations before any
        text wait for it; those of a text block already ended are lost."""
        if self._text_block is None:
            self._uncited.extend(citations)
            return
        key, offset = self._text_block
        if not self._blocks.is_live(key):
            return
        size = self._content - offset
        for citation in citations:
            if citation.start is not None:
                citation.start = min(max(citation.start - offset, 0), size)
            if citation.end is not None:
                citation.end = min(max(citation.end - offset, 0), size)
                if citation.start is not None and citation.start >= citation.end:
                    continue  # a span of another text block
            self._blocks.cite(key, citation, events)

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
        if not (isinstance(fragment, str) and fragment):
            return
        ikey = known[1]
        args = self._args.get(ikey)
        if args is None:  # the call already ended: nothing could place this
            return
        args.append(fragment)
        self._blocks.delta(ikey, fragment, events)
        if self._blocks.held:
            scan = self._scans.get(ikey)
            if scan is not None:
                scan.feed(fragment)
            self._advance(events)

    def _new_tool(
        self, key: Any, call_id: str | None, is_custom: bool, body: Any, events: list[StreamEvent]
    ) -> tuple[str, int, bool]:
        self._saw_tool = True
        blocks = self._blocks
        if blocks.part is not None and not isinstance(blocks.part, ToolCall):
            blocks.end_all(events)
        elif not blocks.held and self._complete(blocks.open_key, fast=True):
            self._end_call(blocks.open_key, events)  # the common case: one call after another
        spec = body if is_custom else body.get("function")
        name = str_field(spec, "name") if isinstance(spec, dict) else ""
        call_id = call_id or self._env.new_id("call_")
        part = ToolCall(call_id, name, kind="custom" if is_custom else "function")
        self._keys += 1
        known = (call_id, self._keys, is_custom)
        self._args[self._keys] = []
        blocks.start(self._keys, part, events)  # held while an unfinished call is open
        self._tools[key] = known
        self._open_tool = key
        if blocks.held:
            self._advance(events)
        return known

    def _advance(self, events: list[StreamEvent]) -> None:
        """Interleaved calls: end the open call once its arguments are
        complete JSON, so the next held one is emitted and streams on."""
        blocks = self._blocks
        while blocks.held and self._complete(blocks.open_key, fast=False):
            self._end_call(blocks.open_key, events)

    def _complete(self, ikey: Any, fast: bool) -> bool:
        part = self._blocks.part
        if not isinstance(part, ToolCall) or part.kind == "custom":
            return False  # freeform input has no end of its own
        args = self._args.get(ikey)
        if not args:
            return False
        if fast:  # one check per call: a parse at C speed
            try:
                json.loads("".join(args))
            except ValueError:
                return False
            return True
        scan = self._scans.get(ikey)
        if scan is None:
            scan = self._scans[ikey] = JsonEnd()
            scan.feed("".join(args))
        return scan.complete

    def _end_call(self, ikey: Any, events: list[StreamEvent]) -> None:
        self._args.pop(ikey, None)
        self._scans.pop(ikey, None)
        self._blocks.end(ikey, events)

    def _close(self, events: list[StreamEvent]) -> None:
        self._blocks.end_all(events)
        self._args.clear()
        self._scans.clear()
        self._open_tool = None

    # ------------------------------------------------------------------ endings

    def _emit_finish(self, events: list[StreamEvent]) -> None:
        self._close(events)
        reason = stop_reason(
            self._finish_reason, has_tool_calls=self._saw_tool, has_refusal=self._saw_refusal
        )
        events.append(Finish(reason, self._usage))
        self._done = True

    def _end(self, events: list[StreamEvent], done: bool = False) -> None:
        """``[DONE]`` (``done``) or the end of the bytes: complete after a
        finish_reason, or at ``[DONE]`` after any chunk (the stop inferred
        from what came); a body that ends with neither was cut."""
        if self._finish_reason is not None or (done and self._started):
            self._emit_finish(events)
        else:
            self._fail(CUT, events)

    def _at_end(self, out: list[StreamEvent]) -> None:
        self._end(out)


def _first_choice(choices: Any) -> dict[str, Any] | None:
    """Choice 0 (clients asking for ``n`` > 1 get several interleaved)."""
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None
