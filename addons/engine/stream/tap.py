"""Usage read off a native answer that passes through untouched."""

from __future__ import annotations

import json
from typing import Any

from omniroute_mitm.translators import Env, get_format
from omniroute_mitm.translators.canonical import BlockDelta, Finish, StreamStart, Usage


class UsageTap:
    """Reads the usage out of a native answer passing through untouched
    (the client's own format, SSE or one JSON body); never raises."""

    def __init__(self, fmt: str, stream: bool) -> None:
        self.format = get_format(fmt)
        self.stream = stream
        self.body = bytearray()
        self.usage: Usage | None = None
        self.chars = 0
        self._decoder = self.format.stream_decoder(Env()) if stream else None
        self._broken = False

    def feed(self, chunk: bytes) -> None:
        if self._broken or not chunk:
            return
        try:
            if self._decoder is None:
                if len(self.body) < 8 * 1024 * 1024:
                    self.body += chunk
                return
            self._events(self._decoder.feed(chunk))
        except Exception:  # noqa: BLE001 - an answer we cannot read still passes on
            self._broken = True

    def finish(self) -> Usage | None:
        if self._broken:
            return None
        try:
            if self._decoder is not None:
                self._events(self._decoder.finish())
            elif self.body:
                response = self.format.parse_response(json.loads(self.body))
                self.usage = response.usage
        except Exception:  # noqa: BLE001 - as in feed: usage is then estimated
            return None
        return self.usage

    def _events(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, BlockDelta):
                self.chars += len(event.text)
            elif isinstance(event, StreamStart | Finish) and event.usage is not None:
                self.usage = event.usage
