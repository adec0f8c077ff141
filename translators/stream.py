"""Stream composition: provider bytes -> canonical events -> client bytes."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

from .base import StreamDecoder, StreamEncoder, WireFormat
from .canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Env,
    ErrorInfo,
    Finish,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Request,
    Response,
    StopReason,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    ToolResult,
    Usage,
    merge_meta,
)
from .provenance import SignatureStamper, stamp_events


class StreamTranslator:
    """Translates one provider stream into one client stream.

    Feed it the provider's bytes as they arrive; it returns the client's bytes
    that can be produced so far. With the same format on both sides the bytes
    pass through untouched and are only observed (for usage and errors).
    """

    def __init__(
        self,
        provider: WireFormat,
        client: WireFormat,
        env: Env,
        *,
        model: str,
        input_tokens: int | None = None,
        sse: bool = True,
        custom_tools: Collection[str] = (),
        on_events: Callable[[list[StreamEvent]], None] | None = None,
        issuer: str | None = None,
    ) -> None:
        self.passthrough = provider.name == client.name and sse
        self._provider = provider.name
        self._issuer = issuer
        """Who issues this stream's signatures (see :mod:`translators.provenance`)."""
        self._stamper = (
            SignatureStamper(provider.name, issuer)
            if issuer and self.passthrough and SignatureStamper.applies(provider.name)
            else None
        )
        self._custom = CustomCalls(custom_tools) if custom_tools and not self.passthrough else None
        self._decoder: StreamDecoder = provider.stream_decoder(env)
        self._encoder: StreamEncoder = client.stream_encoder(
            env, model=model, input_tokens=input_tokens, sse=sse
        )
        self.usage: Usage | None = None
        self.stop_reason: StopReason | None = None
        self.error: ErrorInfo | None = None
        self.started = False
        self.finished = False
        self._on_events = on_events
        """Sees the provider's canonical events as they pass (not to change them)."""

    def feed(self, chunk: bytes) -> bytes:
        events = self._decoder.feed(chunk)
        if self.passthrough:
            self._observe(events)
            return chunk if self._stamper is None else self._stamper.feed(chunk)
        return self._encode(events)

    def finish(self) -> bytes:
        """The provider closed the stream. A stream cut before its end
        becomes an error event in the client's format."""
        events = self._decoder.finish()
        if self.passthrough:
            self._observe(events)
            tail = self._stamper.finish() if self._stamper is not None else b""
            if self.error is not None and not self.finished:
                self.finished = True
                return tail + self._encoder.feed(StreamError(self.error)) + self._encoder.finish()
            return tail
        out = self._encode(events)
        if self._custom is not None:  # a stream cut inside a held call
            out += self._encode(self._custom.flush(), restore=False)
        if self.finished:
            return out
        self.finished = True
        return out + self._encoder.finish()

    def fail(self, error: ErrorInfo) -> bytes:
        """End the client's stream with ``error`` (upstream died mid-stream)."""
        if self.finished:
            return b""
        self.error = error
        self.finished = True
        return self._encoder.feed(StreamError(error)) + self._encoder.finish()

    def ping(self) -> bytes:
        return self._encoder.ping()

    def _observe(self, events: list[StreamEvent]) -> None:
        if self._on_events is not None and events:
            self._on_events(events)
        for event in events:
            if isinstance(event, StreamStart):
                self.started = True
                if event.usage is not None:
                    self.usage = event.usage
            elif isinstance(event, Finish):
                self.stop_reason = event.stop_reason
                if event.usage is not None:
                    self.usage = event.usage
            elif isinstance(event, StreamError):
                self.error = event.error

    def _encode(self, events: list[StreamEvent], restore: bool = True) -> bytes:
        if self._issuer is not None and restore:
            stamp_events(events, self._provider, self._issuer)
        if self._custom is not None and restore:
            events = self._custom.feed(events)
        if not events:
            return b""
        self._observe(events)
        out = [self._encoder.feed(event) for event in events]
        if any(isinstance(event, StreamError) for event in events):
            self.finished = True
            out.append(self._encoder.finish())
        return b"".join(out)


class CustomCalls:
    """Turns calls of freeform (custom) tools back into custom calls.

    Providers without freeform tools (Anthropic, Gemini) are offered such a
    tool as a function taking ``{"input": string}``; their calls come back as
    function calls with those arguments. A Responses client (Codex: ``exec``,
    ``apply_patch``) rejects a function call to a custom tool, so a call to
    one of ``names`` is held until it ends and re-emitted as a custom call
    with the raw input; events after it wait so the order is kept. Arguments
    of another shape are passed on unchanged, as a function call.
    """

    def __init__(self, names: Collection[str]) -> None:
        self.names = frozenset(names)
        self._start: BlockStart | None = None
        self._args: list[str] = []
        self._held: list[StreamEvent] = []

    def feed(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            start = self._start
            if start is None:
                if self._is_custom_call(event):
                    assert isinstance(event, BlockStart)
                    self._start, self._args, self._held = event, [], []
                else:
                    out.append(event)
            elif isinstance(event, BlockDelta) and event.index == start.index:
                self._args.append(event.text)
            elif isinstance(event, BlockEnd) and event.index == start.index:
                out += self._release(event)
            else:
                self._held.append(event)
        return out

    def flush(self) -> list[StreamEvent]:
        """What is held when the stream ends inside a call: as it came."""
        start = self._start
        if start is None:
            return []
        self._start = None
        return [start, BlockDelta(start.index, "".join(self._args)), *self._held]

    def _is_custom_call(self, event: StreamEvent) -> bool:
        return (
            isinstance(event, BlockStart)
            and isinstance(event.part, ToolCall)
            and event.part.kind == "function"
            and event.part.name in self.names
        )

    def _release(self, end: BlockEnd) -> list[StreamEvent]:
        start, raw, held = self._start, "".join(self._args), self._held
        assert start is not None and isinstance(start.part, ToolCall)
        self._start, self._args, self._held = None, [], []
        text = custom_input(raw)
        if text is not None:
            start.part.kind, raw = "custom", text
        events: list[StreamEvent] = [start, BlockDelta(start.index, raw)] if raw else [start]
        return [*events, end, *self.feed(held)]


def custom_input(arguments: str) -> str | None:
    """The raw input of a custom tool called as a function (``{"input": ...}``)."""
    try:
        args = json.loads(arguments)
    except ValueError:
        return None
    if isinstance(args, dict) and set(args) == {"input"} and isinstance(args["input"], str):
        return args["input"]
    return None


def restore_custom_calls(response: Response, names: Collection[str]) -> None:
    """:class:`CustomCalls` for a whole (non-streamed) response."""
    for part in response.parts:
        if isinstance(part, ToolCall) and part.kind == "function" and part.name in names:
            text = custom_input(part.arguments)
            if text is not None:
                part.kind, part.arguments = "custom", text


def custom_tool_names(request: Request) -> frozenset[str]:
    return frozenset(tool.name for tool in request.tools if tool.kind == "custom")


class Accumulator:
    """Collects canonical stream events into a canonical Response."""

    def __init__(self) -> None:
        self.response = Response(id="", model="")
        self.error: ErrorInfo | None = None
        self.finished = False
        self._open: dict[int, Part] = {}
        self._chunks: dict[int, list[str]] = {}

    def feed(self, event: StreamEvent) -> None:
        resp = self.response
        if isinstance(event, StreamStart):
            resp.id, resp.model, resp.created = event.id, event.model, event.created
            resp.usage = event.usage
        elif isinstance(event, BlockStart):
            self._open[event.index] = event.part
            self._chunks[event.index] = []
            resp.parts.append(event.part)
        elif isinstance(event, BlockDelta):
            self._chunks[event.index].append(event.text)
        elif isinstance(event, BlockEnd):
            part = self._open.pop(event.index)
            _append_text(part, "".join(self._chunks.pop(event.index)))
            merge_meta(part.meta, event.meta)
        elif isinstance(event, Finish):
            self.finished = True
            resp.stop_reason = event.stop_reason
            resp.stop_sequence = event.stop_sequence
            if event.usage is not None:
                resp.usage = event.usage
        elif isinstance(event, StreamError):
            self.error = event.error

    def feed_all(self, events: list[StreamEvent]) -> None:
        for event in events:
            self.feed(event)


def _append_text(part: Part, text: str) -> None:
    if not text:
        return
    if isinstance(part, ToolCall):
        part.arguments += text
    elif isinstance(part, Text | Reasoning | Refusal):
        part.text += text


def estimate_tokens(request: Request) -> int:
    """A rough input-token count (~4 characters a token) for formats that
    must announce input usage before the provider reports it, and for
    ``count_tokens`` when the target cannot count."""
    chars = sum(len(t.text) for t in request.system)
    for message in request.messages:
        for part in message.parts:
            chars += _part_chars(part)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "")
        chars += len(json.dumps(tool.parameters)) if tool.parameters else 0
    return max(1, chars // 4)


def _part_chars(part: Part) -> int:
    if isinstance(part, Text | Reasoning | Refusal):
        return len(part.text)
    if isinstance(part, ToolCall):
        return len(part.name) + len(part.arguments)
    if isinstance(part, ToolResult):
        return sum(_part_chars(p) for p in part.content)
    if isinstance(part, Opaque):
        return len(json.dumps(part.data))
    return 4 * 1200  # an image costs roughly 1,200 tokens
