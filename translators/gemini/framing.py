"""Gemini's two stream framings, fed bytes split anywhere.

``streamGenerateContent?alt=sse`` sends ``data: <json>`` events separated by
CRLF CRLF; without ``alt=sse`` the body is one (pretty-printed) JSON array
whose elements arrive one by one. :class:`Framer` looks at the first
non-blank byte (``[`` or ``{`` means JSON) and yields each chunk's JSON text.

An error in the middle of a stream is a bare JSON object, not a ``data:``
line; the SSE side passes such lines on as well (google-genai does the same).
"""

from __future__ import annotations

import re

from ..sse import SSEDecoder, SSEEvent

_OUTSIDE = re.compile(rb'[{}"]')
_INSIDE = re.compile(rb'["\\]')


class JsonObjectSplitter:
    """Top-level JSON objects out of a byte stream (an array's elements, or
    objects one after another). Tracks string and escape state and brace depth
    and resumes where it stopped, so each byte is scanned once."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._depth = 0
        self._in_string = False

    @property
    def inside(self) -> bool:
        return self._depth > 0

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buf += chunk
        out: list[bytes] = []
        while self._step(out):
            pass
        return out

    def _step(self, out: list[bytes]) -> bool:
        """Advance to the next interesting byte; False when more input is needed."""
        buf, pos = self._buf, self._pos
        if self._depth == 0:
            start = buf.find(b"{", pos)
            if start < 0:
                buf.clear()  # separators, whitespace, "[" and "]"
                self._pos = 0
                return False
            del buf[:start]
            self._depth, self._pos = 1, 1
            return True
        found = (_INSIDE if self._in_string else _OUTSIDE).search(buf, pos)
        if found is None:
            self._pos = len(buf)
            return False
        i = found.start()
        char = buf[i]
        if char == 0x5C:  # backslash: skip the escaped byte (wait for it if absent)
            if i + 1 >= len(buf):
                self._pos = i
                return False
            self._pos = i + 2
            return True
        self._pos = i + 1
        if char == 0x22:
            self._in_string = not self._in_string
        elif char == 0x7B:
            self._depth += 1
        else:
            self._depth -= 1
            if self._depth == 0:
                out.append(bytes(buf[: i + 1]))
                del buf[: i + 1]
                self._pos = 0
        return True


class _SSE(SSEDecoder):
    """SSE plus bare JSON lines (how Gemini reports an in-stream error)."""

    def __init__(self) -> None:
        super().__init__()
        self._raw = JsonObjectSplitter()

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if self._raw.inside or raw.lstrip().startswith(b"{"):
            for obj in self._raw.feed(raw + b"\n"):
                events.append(SSEEvent("raw", obj.decode("utf-8", errors="replace")))
            return
        super()._line(raw, events)


class Framer:
    """Bytes -> the JSON text of each streamed GenerateContentResponse."""

    def __init__(self) -> None:
        self._sse: _SSE | None = None
        self._json: JsonObjectSplitter | None = None
        self._head = b""

    def feed(self, chunk: bytes) -> list[str | bytes]:
        if self._sse is not None:
            return [e.data for e in self._sse.feed(chunk)]
        if self._json is not None:
            return list(self._json.feed(chunk))
        data = self._head + chunk
        first = data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
        if not first:
            self._head = data
            return []
        self._head = b""
        if first in (b"[", b"{"):
            self._json = JsonObjectSplitter()
        else:
            self._sse = _SSE()
        return self.feed(data)

    def finish(self) -> list[str | bytes]:
        if self._sse is not None:
            return [e.data for e in self._sse.finish()]
        return []
