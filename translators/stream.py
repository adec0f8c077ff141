"""Stream composition: provider bytes -> canonical events -> client bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import orjson

from .base import StreamDecoder, StreamEncoder, WireFormat
from .canonical import (
    BlockCitation,
    BlockDelta,
    BlockEnd,
    BlockStart,
    Env,
    ErrorInfo,
    Finish,
    Message,
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
    WebFetchResult,
    WebSearchCall,
    WebSearchResults,
    merge_meta,
)
from .provenance import SignatureStamper, stamp_events
from .rendered import RenderMemo


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
        continuable: bool = False,
    ) -> None:
        self.passthrough = provider.name == client.name and sse
        self.continuable = continuable
        """A transient break after content is held back (``broken``) for a
        continuation instead of ending the client's stream."""
        self.broken: ErrorInfo | None = None
        """The break held back: the client's stream is still open."""
        self.sent = Partial() if continuable else None
        """What the client received so far (a continuation's partial turn)."""
        self._seen: list[StreamEvent] = []
        """Passed-through events (continuable passthrough): replayed into the
        encoder when the stream switches to translated for a continuation."""
        self._pending = b""
        """Continuable passthrough: the incomplete SSE event not yet passed on."""
        self._ids: dict[int, str] = {}
        self._ending = False
        """A passed-through stream sent its stop reason (Anthropic
        ``message_delta``, a chat ``finish_reason``) before its end."""
        self._calls = HeldCalls() if continuable else None
        """A tool call reaches the client only whole (a break never leaves
        half its arguments there: the continuation makes it again)."""
        self._splice: Splice | None = None
        self._provider = provider.name
        self._responses = provider.name == "openai-responses"
        """Passed-through Responses items' ids are noted (see :meth:`_note_id`)."""
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
        if self.broken is not None:
            return b""
        if self.passthrough and self.continuable:
            return self._feed_frames(chunk)
        events = self._decoder.feed(chunk)
        if self.passthrough:
            self._observe(events)
            return chunk if self._stamper is None else self._stamper.feed(chunk)
        return self._encode(events)

    def finish(self) -> bytes:
        """The provider closed the stream. A stream cut before its end
        becomes an error event in the client's format."""
        if self.broken is not None:
            return b""
        if self.passthrough and self.continuable:
            return self._finish_frames()
        events = self._decoder.finish()
        if self._breaks(events):
            return self.break_off(self._cut(events))
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

    # ------------------------------------------------------------ continuation

    def break_off(self, error: ErrorInfo, before: list[StreamEvent] | None = None) -> bytes:
        """Hold the client's stream open after a break (``error``) for a
        continuation: a passed-through stream switches to translated (its
        events replayed into the encoder, output dropped). Returns the
        client's bytes for ``before`` (events that came ahead of the break)."""
        if self.passthrough:
            known = getattr(self._encoder, "known_ids", None)
            if isinstance(known, dict):
                known.update(self._ids)
            for event in self._seen:
                self._encoder.feed(event)
            self._seen.clear()
            self.passthrough, self._stamper = False, None
        done: list[StreamEvent] | None = None  # held events already through splice & co.
        if self._calls is not None and self._calls.holding:
            # inside a held call: none of it reached the client; it goes on
            # only when its arguments are already whole (see HeldCalls.closed)
            calls = self._calls
            if calls.frames:  # passed through: its frames' events, not yet encoded
                before = calls.closed([e for _, es in calls.frames for e in es] + (before or []))
            else:
                done, before = calls.closed(calls.held), None
        if self._calls is not None:
            self._calls.drop()
        out = self._encode(list(before)) if before else b""
        if done:
            out += self._encode(done, restore=False)
        self.broken = error
        return out

    def resume(
        self,
        provider: WireFormat,
        env: Env,
        *,
        on_events: Callable[[list[StreamEvent]], None] | None = None,
        issuer: str | None = None,
        custom_tools: Collection[str] = (),
        exact: bool = False,
        trimmed: str = "",
        echo: str = "",
    ) -> StreamTranslator:
        """A translator for the continuation's stream from ``provider`` that
        writes into this client stream (its encoder), spliced: no second
        start, block indexes continuing, the repeated opening trimmed, the
        usage of both attempts added up. ``exact``: the target continues the
        partial text itself (a prefill, less ``trimmed`` whitespace; a Chat
        prefix ``echo``, which an answer that opens by repeating it whole has
        dropped)."""
        assert self.broken is not None and self.sent is not None
        nxt = StreamTranslator.__new__(StreamTranslator)
        nxt.passthrough = False
        nxt.continuable, nxt.broken, nxt.sent = True, None, self.sent
        nxt._seen, nxt._pending, nxt._ids = [], b"", {}
        nxt._calls, nxt._ending = HeldCalls(), False
        nxt._provider, nxt._issuer, nxt._stamper = provider.name, issuer, None
        nxt._responses = False
        nxt._custom = CustomCalls(custom_tools) if custom_tools else None
        nxt._decoder = provider.stream_decoder(env)
        nxt._encoder = self._encoder
        nxt.usage, nxt.stop_reason, nxt.error = None, None, None
        nxt.started, nxt.finished = True, False
        nxt._on_events = on_events
        unknown = 1 if self._splice is None else self._splice.unknown + 1
        nxt._splice = Splice(self.sent, self.spent(), exact=exact, trimmed=trimmed,
                             echo=echo, unknown=unknown)  # fmt: skip
        return nxt

    def close_turn(self, stop_reason: StopReason) -> bytes:
        """End a broken stream as a whole answer with what the client has
        (whole tool calls: a turn that called tools), usage as spent."""
        if self.finished:
            return b""
        self.finished, self.broken = True, None
        usage = self.spent()
        if usage is not None and self.sent is not None:
            usage = Usage(usage.input_tokens, max(usage.output_tokens, (self.sent.chars + 3) // 4),
                          usage.cache_read_tokens, usage.cache_creation_tokens)  # fmt: skip
        finish = Finish(stop_reason, usage)
        self._observe([finish])
        return self._encoder.feed(finish) + self._encoder.finish()

    def spent(self) -> Usage | None:
        """The usage of this stream's attempts so far (a continuation's
        includes the attempts it continues)."""
        return self._splice.running(self.usage) if self._splice is not None else self.usage

    def _breaks(self, events: list[StreamEvent]) -> bool:
        """A transient error after content, to be held for a continuation."""
        if not self.continuable or self.sent is None or self.stop_reason is not None:
            return False  # (after a finish the answer is whole: nothing to go on with)
        if self._ending:
            return False  # a passed-through stop reason already reached the client
        at = _error_at(events)
        if at is None:
            return False
        error = events[at]
        assert isinstance(error, StreamError)
        if error.error.kind not in TRANSIENT:
            return False
        ahead = _ahead(events, at)  # (not the block ends a decoder closes with)
        content = any(isinstance(e, BlockDelta | BlockEnd | Finish) for e in ahead)
        return self.sent.content or content or self._splice is not None

    @staticmethod
    def _cut(events: list[StreamEvent]) -> ErrorInfo:
        return next(e.error for e in events if isinstance(e, StreamError))

    def _finish_frames(self) -> bytes:
        """Continuable passthrough's end: the last (maybe unterminated) event
        passes on unless the stream broke."""
        pending, self._pending = self._pending, b""
        tail = self._decoder.feed(pending) if pending else []
        events = tail + self._decoder.finish()
        if self._breaks(events):
            before = _ahead(tail, len(tail))
            return self.break_off(self._cut(events), before)
        held = self._calls.release_frames() if self._calls is not None else []
        out = b"".join(self._pass(f, e) for f, e in held)
        self._observe(events)
        if self._stamper is not None:
            out += (self._stamper.feed(pending) if pending else b"") + self._stamper.finish()
        else:
            out += pending
        if self.error is not None and not self.finished:
            self.finished = True
            return out + self._encoder.feed(StreamError(self.error)) + self._encoder.finish()
        return out

    def _note_id(self, frame: bytes) -> None:
        """A passed-through Responses item's id (the encoder that goes on
        after a break must name the same item: a message, reasoning, a call)."""
        for line in frame.splitlines():
            if not line.startswith(b"data:"):
                continue
            try:
                data = json.loads(line[5:])
            except ValueError:
                return
            item = data.get("item") if isinstance(data, dict) else None
            if isinstance(item, dict) and item.get("id"):
                index = data.get("output_index")
                if isinstance(index, int):
                    self._ids[index] = str(item["id"])

    def _feed_frames(self, chunk: bytes) -> bytes:
        """Continuable passthrough: whole SSE events only, so a break can
        switch the client's stream to translated between two events."""
        if not self._pending and _one_frame(chunk):  # the common case
            out = self._frame(chunk)
            return b"" if out is None else out
        data = self._pending + chunk
        ends = list(_FRAME_END.finditer(data))
        if not ends:
            self._pending = data
            return b""
        cut = ends[-1].end()
        self._pending = data[cut:]
        parts: list[bytes] = []
        start = 0
        for end in ends:
            frame = data[start : end.end()]
            start = end.end()
            out = self._frame(frame)
            if out is None:  # on hold (a tool call not yet whole)
                continue
            parts.append(out)
            if self.broken is not None:
                break
        return b"".join(parts)

    def _frame(self, frame: bytes) -> bytes | None:
        """One whole passed-through event: what goes to the client (None: held)."""
        events = self._decoder.feed(frame)
        if self._breaks(events):
            at = next(i for i, e in enumerate(events) if isinstance(e, StreamError))
            return self.break_off(self._cut(events), _ahead(events, at))
        calls = self._calls
        if calls is not None and (calls.holding or calls.starts(events)):
            calls.hold_frame(frame, events)
            if calls.holding:
                return None
            # the call is whole: on to the client
            return b"".join([self._pass(f, e) for f, e in calls.release_frames()])
        return self._pass(frame, events)

    def _pass(self, frame: bytes, events: list[StreamEvent]) -> bytes:
        """A passed-through event (continuable): seen, then sent as it came."""
        self._observe(events)
        self._seen += events
        if self._responses and b"response.output_item.added" in frame:
            self._note_id(frame)
        if not self._ending and _stop_sent(frame):
            self._ending = True
        return frame if self._stamper is None else self._stamper.feed(frame)

    def _observe(self, events: list[StreamEvent]) -> None:
        if self._on_events is not None and events:
            self._on_events(events)
        if self.sent is not None:
            self.sent.feed(events)
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
        if self._splice is not None and restore:
            events = self._splice.feed(events)
        error: ErrorInfo | None = None
        if self._breaks(events):
            at = next(i for i, e in enumerate(events) if isinstance(e, StreamError))
            error, events = self._cut(events), _ahead(events, at)
        if self._calls is not None:
            events = self._calls.feed(events)
        out: list[bytes] = []
        if events:
            self._observe(events)
            out = [self._encoder.feed(event) for event in events]
            if any(isinstance(event, StreamError) for event in events):
                self.finished = True
                out.append(self._encoder.finish())
        if error is not None:
            out.append(self.break_off(error))
        return b"".join(out)


class HeldCalls:
    """Tool calls held until whole (a continuable stream): their events, and
    for a passed-through stream their bytes, go on when the call ends. A
    stream's end or error lets what is held go first."""

    def __init__(self) -> None:
        self.index: int | None = None
        self.held: list[StreamEvent] = []
        self.frames: list[tuple[bytes, list[StreamEvent]]] = []

    @property
    def holding(self) -> bool:
        return self.index is not None

    def starts(self, events: list[StreamEvent]) -> bool:
        for e in events:
            if isinstance(e, BlockStart) and isinstance(e.part, ToolCall):
                return True
        return False

    def _track(self, event: StreamEvent) -> None:
        if isinstance(event, BlockStart) and isinstance(event.part, ToolCall):
            self.index = event.index
        elif isinstance(event, BlockEnd) and event.index == self.index:
            self.index = None

    def feed(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if self.index is None and not (
                isinstance(event, BlockStart) and isinstance(event.part, ToolCall)
            ):
                out += self.held
                self.held = []
                out.append(event)
                continue
            if isinstance(event, Finish | StreamError):
                out += self.held
                self.held, self.index = [], None
                out.append(event)
                continue
            self.held.append(event)
            self._track(event)
            if self.index is None:  # the call is whole
                out += self.held
                self.held = []
        if self.index is None and self.held:
            out += self.held
            self.held = []
        return out

    def hold_frame(self, frame: bytes, events: list[StreamEvent]) -> None:
        self.frames.append((frame, events))
        for event in events:
            self._track(event)

    def release_frames(self) -> list[tuple[bytes, list[StreamEvent]]]:
        frames, self.frames, self.index = self.frames, [], None
        return frames

    def drop(self) -> None:
        self.index, self.held, self.frames = None, [], []

    @staticmethod
    def closed(events: list[StreamEvent]) -> list[StreamEvent] | None:
        """A held call's ``events`` with its end, when the break came after
        its arguments were already one whole JSON object (nothing appended to
        a closed object can make another valid one; only whitespace may
        follow): a Chat call ends only when the next call or the finish
        begins, and a break right there leaves it complete. None: cut."""
        starts = [e for e in events if isinstance(e, BlockStart) and isinstance(e.part, ToolCall)]
        if not starts:
            return None
        start = starts[-1]
        assert isinstance(start.part, ToolCall)
        if start.part.kind != "function":
            return None  # a freeform input has no end of its own
        arguments = start.part.arguments + "".join(
            e.text for e in events if isinstance(e, BlockDelta) and e.index == start.index
        )
        try:
            whole = isinstance(json.loads(arguments), dict)
        except ValueError:
            return None
        return [*events, BlockEnd(start.index)] if whole else None


def _one_frame(chunk: bytes) -> bool:
    """``chunk`` is one whole SSE event: its only blank line ends it."""
    n = len(chunk)  # (memchr and find: a regex would cost a tenth of the event)
    if chunk.endswith(b"\r\n\r\n"):  # every frame end holds "\n\n" or "\n\r\n"
        return chunk.find(b"\n\r\n") == n - 3 and b"\n\n" not in chunk
    if b"\r" not in chunk:
        return n >= 2 and chunk.find(b"\n\n") == n - 2
    end = _FRAME_END.search(chunk)
    return end is not None and end.end() == len(chunk)


def _stop_sent(frame: bytes) -> bool:
    """A passed-through event that tells the client the stop reason."""
    if b"message_delta" in frame or (
        b"finish_reason" in frame and b'"finish_reason":null' not in frame
    ):  # (cheap tests first: every chat chunk names its finish_reason)
        return _STOP_SENT.search(frame) is not None
    return False


def _error_at(events: list[StreamEvent]) -> int | None:
    """Where the stream's error is among ``events`` (a decoder's is its last)."""
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], StreamError):
            return i
    return None


def _ahead(events: list[StreamEvent], at: int) -> list[StreamEvent]:
    """The events before a break at ``at``, less the block ends a decoder
    closes its open blocks with on an error (the continuation goes on in them)."""
    kept: list[StreamEvent] = [e for e in events[:at] if not isinstance(e, StreamError)]
    while kept and isinstance(kept[-1], BlockEnd):
        kept.pop()
    return kept


TRANSIENT = frozenset({"overloaded", "server", "timeout"})
"""In-stream error kinds a continuation may get past."""
_FRAME_END = re.compile(rb"\r?\n\r?\n")
_STOP_SENT = re.compile(rb'"type"\s*:\s*"message_delta"|"finish_reason"\s*:\s*"')
WINDOW = 200
"""Characters of the text already sent a continuation's opening is compared with."""
MIN_OVERLAP = 3
"""A shorter repeat (other than whitespace) may be a coincidence: kept."""


@dataclass(slots=True)
class SentBlock:
    index: int
    kind: str  # text | reasoning | refusal | tool | other
    chunks: list[str] = field(default_factory=list)
    open: bool = True
    call: ToolCall | None = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class Partial:
    """What the client received of an answer, block by block."""

    def __init__(self) -> None:
        self.blocks: list[SentBlock] = []
        self.content = False
        self.events = 0
        self.chars = 0

    def feed(self, events: list[StreamEvent]) -> None:
        for event in events:
            self.events += 1
            if isinstance(event, BlockStart):
                self._start(event)
            elif isinstance(event, BlockDelta):
                self.content = True
                block = self.block(event.index)
                if block is not None and event.text:
                    block.chunks.append(event.text)
                    self.chars += len(event.text)
            elif isinstance(event, BlockEnd):
                self.content = True
                block = self.block(event.index)
                if block is not None:
                    block.open = False
            elif isinstance(event, Finish):
                self.content = True

    def _start(self, event: BlockStart) -> None:
        part = event.part
        kind, first, call = "other", "", None
        if isinstance(part, Text):
            kind, first = "text", part.text
        elif isinstance(part, Reasoning):
            kind, first = "reasoning", part.text
        elif isinstance(part, Refusal):
            kind, first = "refusal", part.text
        elif isinstance(part, ToolCall):
            kind, first = "tool", part.arguments
            call = ToolCall(part.id, part.name, "", part.kind)
        block = SentBlock(event.index, kind, [first] if first else [], call=call)
        self.chars += len(first)
        self.blocks.append(block)

    def block(self, index: int) -> SentBlock | None:
        for block in reversed(self.blocks):
            if block.index == index:
                return block
        return None

    def open_block(self) -> SentBlock | None:
        last = self.blocks[-1] if self.blocks else None
        return last if last is not None and last.open else None

    @property
    def next_index(self) -> int:
        return max((b.index for b in self.blocks), default=-1) + 1

    def parts(self) -> list[Part]:
        """The partial assistant turn: its text and complete tool calls
        (thinking has no signature to go back with; a call cut short is
        left for the continuation to make again)."""
        parts: list[Part] = []
        for block in self.blocks:
            if block.kind == "text" and block.text:
                if parts and isinstance(parts[-1], Text):
                    parts[-1].text += block.text
                else:
                    parts.append(Text(block.text))
            elif block.kind == "tool" and block.call is not None and not block.open:
                call = block.call
                parts.append(ToolCall(call.id, call.name, block.text, call.kind))
        return parts


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(
        a.input_tokens + b.input_tokens,
        a.output_tokens + b.output_tokens,
        a.cache_read_tokens + b.cache_read_tokens,
        a.cache_creation_tokens + b.cache_creation_tokens,
        a.reasoning_tokens + b.reasoning_tokens,
        a.cache_creation_1h_tokens + b.cache_creation_1h_tokens,
        a.web_search_requests + b.web_search_requests,
        a.web_fetch_requests + b.web_fetch_requests,
        a.tool_prompt_tokens + b.tool_prompt_tokens,
    )


class Splice:
    """A continuation's canonical events made to follow what the client got:
    its start dropped, its first text block merged into the text block left
    open at the break (the repeated opening trimmed), its other blocks
    numbered on, its usage added to the attempts before it."""

    def __init__(
        self,
        sent: Partial,
        spent: Usage | None,
        *,
        exact: bool,
        trimmed: str,
        echo: str = "",
        unknown: int = 1,
    ) -> None:
        self.sent, self.exact, self.trimmed = sent, exact, trimmed
        self.echo = echo if len(echo) >= MIN_OVERLAP else ""
        """The prefix handed over: an answer opening with all of it repeats it."""
        self.spent = spent or Usage()
        self.unknown = unknown if self.spent.input_tokens <= 0 else 0
        """Attempts before this one cut before any input count (each read about this one's)."""
        self.spent_chars = sent.chars
        self.spent.output_tokens = max(self.spent.output_tokens, (sent.chars + 3) // 4)
        self.started_usage: Usage | None = None
        self.map: dict[int, int] = {}
        self.next = sent.next_index
        self.first = True
        self.merging: int | None = None
        open_block = sent.open_block()
        self.tail = open_block.text[-WINDOW:] if open_block and open_block.kind == "text" else ""
        self.buffer: list[str] | None = None

    def running(self, usage: Usage | None) -> Usage:
        """What the attempts so far used (this one's usage as last known)."""
        own = usage or self.started_usage or Usage()
        chars = self.sent.chars - self.spent_chars
        own = Usage(own.input_tokens, max(own.output_tokens, (chars + 3) // 4))
        if own.input_tokens <= 0:
            own.input_tokens = self.spent.input_tokens
        return _add(self.spent, own)

    def feed(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if isinstance(event, StreamStart):
                self.started_usage = event.usage
            elif isinstance(event, BlockStart):
                self._start(event, out)
            elif isinstance(event, BlockDelta):
                index = self.map.get(event.index)
                if index is None:
                    continue
                if event.index == self.merging and self.buffer is not None:
                    self.buffer.append(event.text)
                    self._release(out, done=False)
                else:
                    out.append(BlockDelta(index, event.text))
            elif isinstance(event, BlockEnd):
                index = self.map.get(event.index)
                if index is None:
                    continue
                if event.index == self.merging:
                    self._release(out, done=True)
                out.append(BlockEnd(index, event.meta))
            elif isinstance(event, BlockCitation):
                index = self.map.get(event.index)
                if index is not None:  # (a span in merged text counts from the continuation)
                    out.append(BlockCitation(index, event.citation))
            elif isinstance(event, Finish):
                self._release(out, done=True)
                cont = event.usage or self.started_usage or Usage()
                spent = self.spent
                if spent.input_tokens <= 0:  # cut before their usage: each prompt about this one's
                    spent = _add(spent, Usage(input_tokens=cont.input_tokens * self.unknown))
                if cont.input_tokens <= 0:
                    cont = _add(cont, Usage(input_tokens=spent.input_tokens))
                event = Finish(event.stop_reason, _add(spent, cont), event.stop_sequence)
                out.append(event)
            else:
                self._release(out, done=True)
                out.append(event)
        return out

    def _start(self, event: BlockStart, out: list[StreamEvent]) -> None:
        if self.first:
            self.first = False
            open_block = self.sent.open_block()
            if open_block is not None:
                if open_block.kind == "text" and isinstance(event.part, Text):
                    self.map[event.index] = open_block.index
                    self.merging, self.buffer = event.index, []
                    if event.part.text:
                        self.buffer.append(event.part.text)
                        self._release(out, done=False)
                    return
                out.append(BlockEnd(open_block.index))  # thinking cut: closed unsigned
        self._release(out, done=True)
        self.map[event.index] = self.next
        self.next += 1
        out.append(BlockStart(self.map[event.index], event.part))

    def _release(self, out: list[StreamEvent], *, done: bool) -> None:
        """The buffered opening of the merged text, once what to trim off it
        is known. By instruction, that is as soon as the opening can no longer
        be the start of a longer repeat of the tail (:meth:`_undecided`): a
        new answer goes on at its first words, a repeat once it ends."""
        if self.buffer is None or self.merging is None:
            return
        text = "".join(self.buffer)
        if not done:
            if self.exact and not text.strip():
                return
            if self.echo and len(text) < len(self.echo) and self.echo.startswith(text):
                return  # (maybe the prefix repeated: wait until it is whole or differs)
            if not self.exact and self._undecided(text):
                return
        self.buffer = None
        text = self._trim(text)
        if text:
            out.append(BlockDelta(self.map[self.merging], text))

    def _undecided(self, text: str) -> bool:
        """Whether more of the continuation could change what is trimmed off
        ``text``: it occurs in the tail where a longer repeat would start, or
        nothing but whitespace is left of it after the tail's whitespace."""
        tail = self.tail
        if tail.find(text, 0, len(tail) - 1) >= 0:
            return True
        return tail[-1:].isspace() and not self._trim(text).strip()

    def _trim(self, text: str) -> str:
        tail = self.tail
        if self.exact:  # a prefill: the model goes on from the trimmed text
            if self.echo and text.startswith(self.echo):
                text = text[len(self.echo) :]
            if self.trimmed and text[:1].isspace():
                return text.lstrip()
            return text
        best = 0
        for k in range(min(len(tail), len(text)), 0, -1):
            if tail.endswith(text[:k]):
                best = k
                break
        if best >= MIN_OVERLAP or (best and text[:best].isspace()):
            text = text[best:]
        if tail[-1:].isspace() and text[:1].isspace():
            text = text.lstrip()
        return text


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
        elif isinstance(event, BlockCitation):
            part = self._open.get(event.index)
            if isinstance(part, Text):
                part.citations.append(event.citation)
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


def estimate_tokens(request: Request, memo: RenderMemo | None = None) -> int:
    """A rough input-token count (~4 characters a token) for formats that
    must announce input usage before the provider reports it, and for
    ``count_tokens`` when the target cannot count. ``memo``: the count of
    the leading messages the last request had alike (translators.rendered)."""
    chars = sum(len(t.text) for t in request.system)
    if memo is None:
        for message in request.messages:
            for part in message.parts:
                chars += _part_chars(part)
    else:
        chars += _message_chars(request.messages, memo)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "")
        chars += _schema_chars(tool.parameters) if tool.parameters else 0
    return max(1, chars // 4)


def _schema_chars(schema: object) -> int:
    """``len(json.dumps(schema))``, remembered by the schema's compact bytes:
    an agent resends the same tool schemas every turn (tens of KB; json's
    encoder is ~25x slower than orjson's, which only finds the entry)."""
    try:
        key = orjson.dumps(schema)
    except TypeError:  # (what orjson refuses, json may still write)
        return len(json.dumps(schema))
    chars = _SCHEMA_CHARS.get(key)
    if chars is None:
        chars = len(json.dumps(schema))
        if len(_SCHEMA_CHARS) >= _SCHEMAS_MAX:
            _SCHEMA_CHARS.clear()
        _SCHEMA_CHARS[key] = chars
    return chars


_SCHEMA_CHARS: dict[bytes, int] = {}
_SCHEMAS_MAX = 512


def _message_chars(messages: list[Message], memo: RenderMemo) -> int:
    """The characters of ``messages``, the count after the leading ones the
    last request had alike taken from ``memo`` (the state after a message)."""
    run = memo.run("estimate", None, messages)
    _, _, state = run.lead()
    chars: int = state[0] if state is not None else 0
    for message in messages[run.taken :]:
        for part in message.parts:
            chars += _part_chars(part)
        run.end(0, 0, (chars,), False)
    run.finish([], [], extra=chars)
    return chars


def _part_chars(part: Part) -> int:
    if isinstance(part, Text | Reasoning | Refusal):
        return len(part.text)
    if isinstance(part, ToolCall):
        return len(part.name) + len(part.arguments)
    if isinstance(part, ToolResult):
        return sum(_part_chars(p) for p in part.content)
    if isinstance(part, Opaque):
        return len(json.dumps(part.data))
    if isinstance(part, WebSearchCall):
        return len(part.query or part.url or "")
    if isinstance(part, WebSearchResults):
        return sum(
            len(r.url) + len(r.title or "") + len(r.snippet or r.encrypted_content or "")
            for r in part.results
        )
    if isinstance(part, WebFetchResult):
        return len(part.text)
    return 4 * 1200  # an image costs roughly 1,200 tokens
