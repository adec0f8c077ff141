"""A stream's opening held back until real content arrives.

Streams hold the upstream's preamble back (Anthropic ``message_start`` and
``ping``, a role-only chat chunk, ``response.created``) until real content or
a finish arrives, so a 200 that fails before any content still falls back.
The first content then leaves at once: until it came, a read is translated
one event at a time (the rest of the read waits, not the first byte), and
the first content is flushed before anything else is translated.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from omniroute_mitm.engine.core.errors import UpstreamError, UpstreamStreamError
from omniroute_mitm.translators import StreamTranslator
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    Finish,
    StreamError,
    StreamEvent,
)

from .reply import ClientReply


class ContentWatch:
    """Sees the provider's canonical events: has real content arrived?"""

    def __init__(self, inner: Callable[[list[StreamEvent]], None] | None) -> None:
        self.inner = inner
        self.content = False
        self.chars = 0
        """Characters of content seen (estimates output when usage is missing)."""

    def __call__(self, events: list[StreamEvent]) -> None:
        self.chars += sum(len(e.text) for e in events if isinstance(e, BlockDelta))
        if not self.content:
            self.content = any(isinstance(e, BlockDelta | BlockEnd | Finish) for e in _real(events))
        if self.inner is not None:
            self.inner(events)


def _real(events: list[StreamEvent]) -> list[StreamEvent]:
    """The events before an error, less the block ends a decoder closes its
    open blocks with on it (an empty block cut by an error is no content)."""
    at = next((i for i, e in enumerate(events) if isinstance(e, StreamError)), None)
    if at is None:
        return events
    kept = events[:at]
    while kept and isinstance(kept[-1], BlockEnd):
        kept.pop()
    return kept


class HoldBack:
    """Translated bytes on their way to the client: held while no content has
    arrived, then sent as they come. An error before content that may fall
    back (``falls_back``) is raised instead, with nothing shown yet."""

    def __init__(
        self,
        reply: ClientReply,
        translator: StreamTranslator,
        watch: ContentWatch,
        falls_back: Callable[[UpstreamError], bool],
    ) -> None:
        self.reply, self.translator, self.watch = reply, translator, watch
        self.falls_back = falls_back
        self.held = bytearray()
        self.flushed = False
        """This attempt's first content went out on its own (see :meth:`_first_out`)."""

    async def take(self, chunk: bytes, feed: Callable[[bytes], bytes]) -> None:
        """One read from the provider through ``feed`` (the translator) to
        the client. Until this attempt's content came, the read goes one
        event at a time: a fast provider's first read may hold the whole
        answer, and its first content need not wait for the rest."""
        translator = self.translator
        while not self.watch.content and translator.broken is None:
            end = _EVENT_END.search(chunk)
            if end is None or end.end() == len(chunk):
                break
            await self.emit(feed(chunk[: end.end()]))
            chunk = chunk[end.end() :]
        if translator.broken is None:
            await self.emit(feed(chunk))

    async def emit(self, out: bytes) -> None:
        if self.reply.content_sent:
            await self.reply.send(out)
            if out and not self.flushed and self.watch.content:
                await self._first_out()
            return
        error = self.translator.error
        if error is not None and not self.watch.content:
            err = UpstreamStreamError(error)
            if self.falls_back(err):
                raise err  # nothing shown yet: fall back
        self.held += out
        if self.watch.content or (error is not None and self.held):
            data = bytes(self.held)
            self.held.clear()
            await self.reply.send(data)
            if self.watch.content:
                await self._first_out()

    async def _first_out(self) -> None:
        """The client's sink flushes what was written at the loop's next
        turn (one flush for all one read brought): for the first content,
        that turn comes now, before the rest of the read is translated."""
        self.flushed = True
        await asyncio.sleep(0)


_EVENT_END = re.compile(rb"\r?\n\r?\n")
"""The end of a server-sent event (a read is split there before content)."""
