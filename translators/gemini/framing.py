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

# Everything up to the next brace outside a string, complete strings (with
# their escapes) included: one C-speed match per brace instead of per byte.
_SKIP = re.compile(rb'(?s)(?:[^{}"]+|"[^"\\]*(?:\\.[^"\\]*)*")*')


class JsonObjectSplitter:
    """Top-level JSON objects out of a byte stream (an array's elements, or
    objects one after another): tracks brace depth outside strings, string
    and escape state being handled by the skip pattern. A string cut by the
    end of the input is scanned again from its quote when more arrives."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._depth = 0

    @property
    def inside(self) -> bool:
        return self._depth > 0

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf
        buf += chunk
        out: list[bytes] = []
        pos, depth = self._pos, self._depth
        skip = _SKIP.match
        while True:
            if depth == 0:
                start = buf.find(b"{", pos)
                if start < 0:
                    buf.clear()  # separators, whitespace, "[" and "]"
                    pos = 0
                    break
                del buf[:start]
                depth, pos = 1, 1
                continue
            pos = skip(buf, pos).end()  # type: ignore[union-attr]  # "*" always matches
            if pos == len(buf) or buf[pos] == 0x22:
                break  # need more input (possibly to finish a string)
            pos += 1
            if buf[pos - 1] == 0x7B:
                depth += 1
                continue
            depth -= 1
            if depth == 0:
                out.append(bytes(buf[:pos]))
                del buf[:pos]
                pos = 0
        self._pos, self._depth = pos, depth
        return out


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
