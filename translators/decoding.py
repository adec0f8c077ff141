"""The skeleton every stream decoder shares.

Framing (SSE, or Gemini's framer), the feed/finish loop, one policy for an
event whose data is not a JSON object, and one way to fail. A format's
decoder subclasses :class:`DecoderSkeleton` and implements :meth:`_event`
(one JSON object) and :meth:`_close` (end the open block); it may override
:meth:`_skip` (frames that carry nothing, before parsing) and
:meth:`_at_end` (what the end of the bytes means: by default, a stream that
never finished was cut). Every decoder opens, feeds and ends its blocks
through :class:`translators.blocks.Blocks`, which keeps them within the
canonical invariants (and holds interleaved ones, where a format can send them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .canonical import Env, ErrorInfo, StreamError, StreamEvent
from .sse import SSEDecoder
from .sse import loads as sse_loads

CUT = ErrorInfo(502, "server", "upstream stream ended before completion")
MALFORMED = "upstream sent invalid JSON in its stream"


class Frames(Protocol):
    """Bytes split anywhere -> complete frames as (event name, data)."""

    def feed(self, chunk: bytes) -> Sequence[tuple[str | None, str | bytes]]: ...

    def finish(self) -> Sequence[tuple[str | None, str | bytes]]: ...


class SSEFrames:
    __slots__ = ("_sse",)

    def __init__(self) -> None:
        self._sse = SSEDecoder()

    def feed(self, chunk: bytes) -> list[tuple[str | None, str | bytes]]:
        return [(e.event, e.data) for e in self._sse.feed(chunk)]

    def finish(self) -> list[tuple[str | None, str | bytes]]:
        return [(e.event, e.data) for e in self._sse.finish()]


class DecoderSkeleton:
    """Provider stream bytes -> canonical events (see the module docstring)."""

    def __init__(self, env: Env, frames: Frames | None = None) -> None:
        self._env = env
        self._frames: Frames = frames if frames is not None else SSEFrames()
        self._done = False

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for name, data in self._frames.feed(chunk):
            if self._done:
                break
            self._frame(name, data, out)
        return out

    def finish(self) -> list[StreamEvent]:
        """End of input: what the format makes of it, else the stream was cut."""
        out: list[StreamEvent] = []
        for name, data in self._frames.finish():
            if self._done:
                break
            self._frame(name, data, out)
        if not self._done:
            self._at_end(out)
        if not self._done:
            self._fail(CUT, out)
        return out

    def _frame(self, name: str | None, data: str | bytes, out: list[StreamEvent]) -> None:
        if self._skip(name, data, out):
            return
        try:
            obj = sse_loads(data)
        except ValueError:
            # An event named "error" whose data is plain text is the provider's message.
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            self._fail(ErrorInfo(502, "server", text[:1000] if name == "error" else MALFORMED), out)
            return
        if isinstance(obj, dict):
            self._event(name, obj, out)

    def _fail(self, error: ErrorInfo, out: list[StreamEvent]) -> None:
        """The one way a stream ends badly: the open block closes, then the error."""
        self._close(out)
        self._done = True
        out.append(StreamError(error))

    # ------------------------------------------------------------ the format's

    def _skip(self, name: str | None, data: str | bytes, out: list[StreamEvent]) -> bool:
        """Whether a frame carries nothing to parse (keep-alives and the like)."""
        return False

    def _event(self, name: str | None, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        raise NotImplementedError

    def _close(self, out: list[StreamEvent]) -> None:
        raise NotImplementedError

    def _at_end(self, out: list[StreamEvent]) -> None:
        """The bytes ended before the format's own end; may finish the stream."""
