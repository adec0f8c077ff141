"""Messages remembered between requests, parsed once.

A coding agent resends its whole conversation every turn (Claude Code: 0.2-1
MB of JSON, thousands of messages) and only appends at the end. Parsing a
message into canonical parts does not depend on any other message, so the
parts of a message whose bytes and index were seen before are taken from
here instead of being decoded and parsed again; what one message gives
another (a tool result's name, a carrier's metadata, signatures kept per
issuer, thinking restored from the cache) is still worked out per request
from them (copies where it changes a part: a remembered part is never
changed in place, see ``translators.provenance.keep_issued``).

The key is the message's exact bytes and its index (errors and some parts
name the index), per client format: a request only ever gets the parse of
the bytes it sent. Bounded by the bytes it holds, least recently used first.
One event loop uses it and nothing here awaits, so requests cannot interleave
inside it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.translators import WireFormat
from omniroute_mitm.translators.anthropic import request_parse as anthropic
from omniroute_mitm.translators.canonical import Request
from omniroute_mitm.translators.sse import loads_exact

MAX_BYTES = 64 << 20
"""What the memo may hold, counted as :data:`WEIGHT` times the JSON bytes
(the canonical objects of a message weigh a few times its JSON)."""
WEIGHT = 4


@dataclass(frozen=True, slots=True)
class ItemParser:
    """How a client format's messages are parsed one by one."""

    member: str
    """The top-level member holding the messages."""
    parse: Callable[[Any, int], Any]
    """One element and its index -> the item ``parse_request(items=...)`` takes."""


PARSERS: dict[str, ItemParser] = {
    "anthropic": ItemParser("messages", anthropic.parse_item),
}

_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])


class MessageMemo:
    """Parsed messages by client format, index and exact bytes (an LRU)."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, int, bytes], Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def parse_request(
        self,
        client: WireFormat,
        top: TopLevel,
        *,
        model: str | None,
        stream: bool | None,
    ) -> Request | None:
        """``client.parse_request`` of the body ``top`` splits, its messages
        taken from here where seen before; None when this format's messages
        are not remembered or the member is not a list (parsed whole then,
        for the same error)."""
        parser = PARSERS.get(client.name)
        if parser is None:
            return None
        raw = top.raw(parser.member)
        if raw is None:
            return None
        try:
            elements = _ITEMS.decode(raw)
        except msgspec.ValidationError:  # not a list
            return None
        # decoded afresh, not top's own values: a request may change what it parsed
        body = {k: loads_exact(top.raw(k) or b"") for k in top if k != parser.member}
        items = self._items(client.name, parser, elements)
        return client.parse_request(body, model=model, stream=stream, items=items)

    def _items(self, fmt: str, parser: ItemParser, elements: list[msgspec.Raw]) -> Iterator[Any]:
        """Each element's item, produced as the parser reaches it (an invalid
        one raises where a whole-body parse would)."""
        entries = self._entries
        for i, element in enumerate(elements):
            key = (fmt, i, bytes(element))
            item = entries.get(key)
            if item is None:
                self.misses += 1
                item = parser.parse(loads_exact(key[2]), i)
                self._put(key, item)
            else:
                self.hits += 1
                entries.move_to_end(key)
            yield item

    def _put(self, key: tuple[str, int, bytes], item: Any) -> None:
        size = WEIGHT * len(key[2])
        if size > self.max_bytes:
            return
        self._entries[key] = item
        self.held += size
        while self.held > self.max_bytes:
            old, _ = self._entries.popitem(last=False)
            self.held -= WEIGHT * len(old[2])
