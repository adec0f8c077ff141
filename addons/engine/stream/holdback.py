"""A stream's opening held back until real content arrives.

Streams hold the upstream's preamble back (Anthropic ``message_start`` and
``ping``, a role-only chat chunk, ``response.created``) until real content or
a finish arrives, so a 200 that fails before any content still falls back.
"""

from __future__ import annotations

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

    async def emit(self, out: bytes) -> None:
        if self.reply.content_sent:
            await self.reply.send(out)
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
