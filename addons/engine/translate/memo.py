"""Messages remembered between requests, parsed once.

A coding agent resends its whole conversation every turn (Claude Code's
messages, Codex's input items, Gemini CLI's contents, a Chat client's
messages: 0.2-1 MB of JSON, thousands of them) and only appends at the
end. Parsing a message into canonical parts does not depend on any other
message, so the parts of a message whose bytes and index were seen before are taken from
here instead of being decoded and parsed again; what one message gives
another (a tool result's name, a carrier's metadata, signatures kept per
issuer, thinking restored from the cache) is still worked out per request
from them (copies where it changes a part: a remembered part is never
changed in place, see ``translators.provenance.keep_issued``).

An entry is the message's exact bytes and its index (errors and some parts
name the index), per client format, found by index and length and taken
only when the bytes are equal: a request only ever gets the parse of the
bytes it sent. Bounded by the bytes it holds, least recently used first.
One event loop uses it and nothing here awaits, so requests cannot interleave
inside it.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Buffer, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from omniroute_mitm.engine.core.toplevel import Spans, TopLevel
from omniroute_mitm.translators import WireFormat
from omniroute_mitm.translators.anthropic import request_parse as anthropic
from omniroute_mitm.translators.canonical import Request
from omniroute_mitm.translators.gemini import request_parse as gemini
from omniroute_mitm.translators.openai_chat import request_parse as chat
from omniroute_mitm.translators.openai_responses import request_parse as responses
from omniroute_mitm.translators.rendered import RenderMemo
from omniroute_mitm.translators.resent import Resent
from omniroute_mitm.translators.sse import loads_exact

LISTS = 8
"""Lists kept (the last request's list member per conversation: its bytes,
where its elements end and their items; the items are mostly the entries')."""
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
    "openai-responses": ItemParser("input", responses.parse_item),
    "gemini": ItemParser("contents", gemini.parse_item),
    "openai-chat": ItemParser("messages", chat.parse_item),
}


@dataclass(frozen=True, slots=True)
class _Listed:
    """One request's list member: where each element starts and ends, and its item."""

    spans: Spans
    items: list[Any]


class MessageMemo:
    """Parsed messages by client format, index and exact bytes (an LRU);
    and the last lists (:data:`LISTS`): a list that continues one of them
    takes the items of the elements its bytes share whole, without looking
    each one up."""

    def __init__(self, max_bytes: int = MAX_BYTES, opening: int = 512) -> None:
        """``opening``: the bytes a list must share with a remembered one to
        be compared (its first messages: a conversation's)."""
        self.max_bytes = max_bytes
        self.held = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, int, int], tuple[bytes, Any]] = OrderedDict()
        self.rendered = RenderMemo()
        """Their renderings for each target (translators.rendered)."""
        self._last: Request | None = None
        self._lists: Resent[_Listed] = Resent(keep=LISTS, head=opening)

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
        elements = top.elements(parser.member)
        if elements is None:
            return None
        # decoded afresh, not top's own values: a request may change what it parsed
        body = {k: loads_exact(top.raw(k) or b"") for k in top if k != parser.member}
        member = parser.member
        items = self._items(client.name, parser, elements, top.raw(member), top.spans(member))
        request = client.parse_request(body, model=model, stream=stream, items=items)
        self._last = request
        return request

    def remembered(self, request: Request) -> bool:
        """Whether ``request`` is the last one parsed here (its messages'
        parts then shared with other requests: worth rendering with
        :attr:`rendered`; a request parsed whole has new parts each time)."""
        last, self._last = self._last, None
        return last is request

    def _items(
        self,
        fmt: str,
        parser: ItemParser,
        elements: list[Buffer],
        member: bytes | None,
        spans: Spans | None,
    ) -> Iterator[Any]:
        """Each element's item, produced as the parser reaches it (an invalid
        one raises where a whole-body parse would). The elements a remembered
        list of this format shares whole (its bytes up to one past the
        element's end: a value's end is then the same) are its items; any
        other element's entry is found by the element's format, index and
        length, and taken only when its bytes are the element's (compared:
        no hash of every message's bytes)."""
        taken: list[Any] = []
        shared = 0
        listed = member is not None and spans is not None and len(spans[1]) == len(elements)
        last = None
        if listed:
            assert member is not None and spans is not None
            last, same = self._lists.closest(member, fmt)
            if last is not None:
                ends, old = spans[1], last.value.spans[1]
                shared = bisect.bisect_left(old, same)  # the elements that end before ``same``
                if ends[:shared] != old[:shared]:
                    shared = 0  # (cannot be: the same bytes place their elements alike)
                taken = last.value.items[:shared]
                self.hits += shared
                yield from taken
        entries = self._entries
        for i in range(shared, len(elements)):
            element = elements[i]
            data = bytes(element)  # (bytes compare with memcmp; views element by element)
            key = (fmt, i, len(data))
            entry = entries.get(key)
            if entry is not None and entry[0] == data:
                self.hits += 1
                entries.move_to_end(key)
                taken.append(entry[1])
                yield entry[1]
                continue
            self.misses += 1
            item = parser.parse(loads_exact(data), i)
            self._put(key, data, item)
            taken.append(item)
            yield item
        if listed and member is not None and spans is not None:
            if WEIGHT * len(member) <= self.max_bytes:  # (all of them parsed: none raised)
                self._lists.remember(member, _Listed(spans, taken), fmt, replaces=last)

    def _put(self, key: tuple[str, int, int], data: bytes, item: Any) -> None:
        size = WEIGHT * len(data)
        if size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:  # (another message of that index and length)
            self.held -= WEIGHT * len(old[0])
        self._entries[key] = (data, item)
        self.held += size
        while self.held > self.max_bytes:
            _, (gone, _) = self._entries.popitem(last=False)
            self.held -= WEIGHT * len(gone)
