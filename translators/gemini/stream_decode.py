"""streamGenerateContent bytes -> canonical stream events.

Each chunk is a whole GenerateContentResponse carrying the new parts: text
and thought text as deltas, function calls complete in one part. Vertex can
stream call arguments (``partialArgs`` fragments addressed by ``jsonPath``,
``willContinue`` until the call is done): those are assembled and emitted as
one argument delta when the call ends. usageMetadata is cumulative; the last
one seen goes into Finish, which comes with the first finishReason.
"""

from __future__ import annotations

import re
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
    Usage,
    WebFetchResult,
    WebSearchCall,
    merge_meta,
)
from ..decoding import DecoderSkeleton
from ..sse import dumps
from .common import (
    NAME,
    REASONING_KEY,
    as_dict,
    as_list,
    derived_call_id,
    field,
    parse_usage,
    signature_meta,
    stop_reason,
)
from .errors import error_info
from .framing import Framer
from .parts import parse_arguments, parse_media
from .web import char_offset, fetch_parts, has_grounding, supports, web_parts


class _Frames:
    """Gemini's framing (SSE or a JSON array) as the skeleton's frames."""

    __slots__ = ("_framer",)

    def __init__(self) -> None:
        self._framer = Framer()

    def feed(self, chunk: bytes) -> list[tuple[str | None, str | bytes]]:
        return [(None, text) for text in self._framer.feed(chunk)]

    def finish(self) -> list[tuple[str | None, str | bytes]]:
        return [(None, text) for text in self._framer.finish()]


class GeminiStreamDecoder(DecoderSkeleton):
    def __init__(self, env: Env) -> None:
        super().__init__(env, _Frames())
        self._started = False
        self._blocks = Blocks()
        self._keys = 0
        self._open_meta: Meta = {}  # the open block's, given at its end
        self._partial: PartialArgs | None = None
        self._usage: Usage | None = None
        self._pending: Any = None  # finished, waiting for usage
        self._has_calls = False
        self._id = ""
        self._calls = 0
        self._text_bytes = 0  # answer text streamed so far (grounding counts bytes)
        self._block_text: list[str] = []  # the open text block's text
        self._block_from = 0  # where the open text block starts, in bytes
        self._web: list[Part] = []  # searches, sent after the text they ground
        self._cited: set[tuple[int, int, str]] = set()  # supports already sent

    def _at_end(self, events: list[StreamEvent]) -> None:
        if self._pending is not None:  # finished, and no usage came after
            self._finish(self._pending, events)

    def _event(self, name: str | None, data: dict[str, Any], events: list[StreamEvent]) -> None:
        if self._pending is not None:  # a chunk after the finishing one: its usage
            self._usage = parse_usage(field(data, "usageMetadata")) or self._usage
            self._finish(self._pending, events)
            return
        if isinstance(data.get("error"), dict):
            self._fail(error_info(data["error"], 200), events)
            return
        if not self._started:
            self._start(data, events)
        usage = field(data, "usageMetadata")
        if usage is not None:
            self._usage = parse_usage(usage) or self._usage
        candidate = _first_candidate(data)
        if candidate is None:
            if field(as_dict(field(data, "promptFeedback")), "blockReason"):
                self._finish("content_filter", events)
            return
        for part in as_list(as_dict(candidate.get("content")).get("parts")):
            if isinstance(part, dict):
                self._part(part, events)
        self._grounding(candidate, events)
        finish = field(candidate, "finishReason")
        if finish:
            reason = stop_reason(finish, self._has_calls)
            if usage is None:  # a chunk of usage alone may follow: wait for it
                self._close(events)
                self._pending = reason
            else:
                self._finish(reason, events)

    def _start(self, data: dict[str, Any], events: list[StreamEvent]) -> None:
        self._started = True
        usage = None
        meta = as_dict(field(data, "usageMetadata"))
        prompt = field(meta, "promptTokenCount")
        if isinstance(prompt, int):
            tool_prompt = field(meta, "toolUsePromptTokenCount")
            tool_prompt = tool_prompt if isinstance(tool_prompt, int) else 0
            usage = Usage(input_tokens=prompt + tool_prompt, tool_prompt_tokens=tool_prompt)
        self._id = str(field(data, "responseId") or self._env.new_id("resp_"))
        events.append(StreamStart(self._id, str(field(data, "modelVersion") or ""), usage))

    def _grounding(self, candidate: dict[str, Any], events: list[StreamEvent]) -> None:
        """Grounding (usually on the last chunk): citations go to the open
        text block (segments elsewhere are lost: that text has been sent);
        the searches become blocks after it, at the finish."""
        grounding = field(candidate, "groundingMetadata")
        fetched = fetch_parts(field(candidate, "urlContextMetadata"), self._id)
        if fetched and not any(isinstance(p, WebFetchResult) for p in self._web):
            self._web.extend(fetched)
        if not has_grounding(grounding):
            return
        if not any(isinstance(p, WebSearchCall) and p.name == "web_search" for p in self._web):
            self._web.extend(web_parts(grounding, self._id))
        if not isinstance(self._blocks.part, Text):
            return
        text = "".join(self._block_text)
        size = len(text.encode())
        for _, start, end, citation in supports(grounding):
            seen = (start, end, citation.url)
            start, end = start - self._block_from, min(end - self._block_from, size)
            if 0 <= start < end and seen not in self._cited:
                self._cited.add(seen)
                citation.start, citation.end = char_offset(text, start), char_offset(text, end)
                self._blocks.cite(self._keys, citation, events)

    def _finish(self, reason: Any, events: list[StreamEvent]) -> None:
        self._pending = None
        self._close(events)
        searches = 0
        for part in self._web:
            self._blocks.end(self._open_block(part, events), events)
            searches += isinstance(part, WebSearchCall) and part.name == "web_search"
        if searches and self._usage is not None:
            self._usage.web_search_requests = searches
        events.append(Finish(reason, self._usage))
        self._done = True

    def _part(self, part: dict[str, Any], events: list[StreamEvent]) -> None:
        call = field(part, "functionCall")
        if isinstance(call, dict):
            self._call(part, call, events)
        elif isinstance(part.get("text"), str):
            self._text(part, events)
        else:
            whole: Part | None = parse_media(part)
            if whole is None and any(k != "thoughtSignature" for k in part):
                whole = Opaque(NAME, part)
            if whole is not None:
                self._close(events)
                self._blocks.end(self._open_block(whole, events), events)

    def _text(self, part: dict[str, Any], events: list[StreamEvent]) -> None:
        text: str = part["text"]
        kind = Reasoning if part.get("thought") is True else Text
        meta = signature_meta(part)
        open_kind = type(self._blocks.part)
        if kind is Text and not text and not meta and open_kind is not Text:
            return  # an empty closing part (seen after function calls)
        if open_kind is not kind:
            self._close(events)
            self._open_block(kind(""), events)
            self._block_text, self._block_from = [], self._text_bytes
        if text:
            self._blocks.delta(self._keys, text, events)
            if kind is Text:
                self._block_text.append(text)
                self._text_bytes += len(text.encode())
        merge_meta(self._open_meta, meta)

    def _call(self, part: dict[str, Any], call: dict[str, Any], events: list[StreamEvent]) -> None:
        meta = signature_meta(part)
        meta.pop(REASONING_KEY, None)  # thought parts of the stream carry their own
        if self._partial is None:
            self._close(events)
            call_id = str(call.get("id") or derived_call_id(self._id, self._calls))
            self._calls += 1
            self._open_block(ToolCall(call_id, str(call.get("name") or "")), events)
            self._has_calls = True
            if not (call.get("willContinue") or "partialArgs" in call):
                self._blocks.delta(self._keys, parse_arguments(call.get("args")), events)
                merge_meta(self._open_meta, meta)
                self._close(events)
                return
            self._partial = PartialArgs()
        merge_meta(self._open_meta, meta)
        self._partial.add(as_list(call.get("partialArgs")))
        if not call.get("willContinue"):
            self._close(events)

    def _open_block(self, part: Part, events: list[StreamEvent]) -> int:
        self._keys += 1
        self._open_meta = {}
        self._blocks.start(self._keys, part, events)
        return self._keys

    def _close(self, events: list[StreamEvent]) -> None:
        if self._partial is not None:
            self._blocks.delta(self._keys, self._partial.text(), events)
            self._partial = None
        if self._blocks.open_key is not None:
            self._blocks.end(self._keys, events, self._open_meta)


def _first_candidate(data: dict[str, Any]) -> dict[str, Any] | None:
    for candidate in as_list(data.get("candidates")):
        if isinstance(candidate, dict) and candidate.get("index", 0) == 0:
            return candidate
    return None


_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]")


class PartialArgs:
    """Vertex's streamed function-call arguments: values addressed by a JSON
    path (``$.a.b[0]``); a string value continues while ``willContinue``."""

    def __init__(self) -> None:
        self.args: dict[str, Any] = {}
        self._continuing: str | None = None

    def add(self, fragments: list[Any]) -> None:
        for fragment in fragments:
            if isinstance(fragment, dict) and isinstance(fragment.get("jsonPath"), str):
                self._set(fragment)

    def _set(self, fragment: dict[str, Any]) -> None:
        path: str = fragment["jsonPath"]
        steps: list[str | int] = [
            m.group(1) or m.group(3) or int(m.group(2)) for m in _PATH_STEP.finditer(path)
        ]
        if not steps:
            return
        append = self._continuing == path
        value = _fragment_value(fragment)
        self._continuing = (
            path if fragment.get("willContinue") and "stringValue" in fragment else None
        )
        node: Any = self.args
        for step, following in zip(steps, [*steps[1:], None], strict=True):
            node = _descend(node, step, following, value if following is None else None, append)

    def text(self) -> str:
        return dumps(self.args)


def _fragment_value(fragment: dict[str, Any]) -> Any:
    for key in ("stringValue", "numberValue", "boolValue"):
        if key in fragment:
            return fragment[key]
    return None


def _descend(node: Any, step: str | int, following: Any, value: Any, append: bool) -> Any:
    """One path step: create containers on the way, set the value at the end."""
    if isinstance(step, int):
        if not isinstance(node, list):
            return node
        while len(node) <= step:
            node.append(None)
        key: Any = step
    elif isinstance(node, dict):
        key = step
    else:
        return node
    if following is None:
        current = node[key] if isinstance(node, list) else node.get(key)
        node[key] = current + value if append and isinstance(current, str) else value
        return None
    if not isinstance(node[key] if isinstance(node, list) else node.get(key), dict | list):
        node[key] = [] if isinstance(following, int) else {}
    return node[key]
