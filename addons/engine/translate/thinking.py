"""Thinking across providers: metadata kept for clients whose format has no
room for it, the provenance rules on the way out, and a request without its
thinking (the retry after a provider refused a signature it cannot check).

A provider's thinking metadata (Anthropic's signed thinking before a
``tool_use``, Gemini's ``thoughtSignature`` on a ``functionCall``, Responses
``encrypted_content``) must come back with the conversation. Clients of the
other formats carry it in their own opaque field (see "carrying foreign
metadata" in :mod:`translators.canonical`); an OpenAI Chat client has none, so
the engine remembers it here, keyed by tool-call id, and puts it back when the
client sends the tool call again.

The cache is bounded (least recently used entries go first), per process and
in memory only: it is lost on restart, and a conversation that outlives it
falls back to what the renderers do without the metadata. Entries are only
restored to the format that issued them, and (like every signature, see
:mod:`translators.provenance`) only kept for the provider that issued
them. Signatures are not credentials, but they are never logged.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import Buffer, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Message,
    Meta,
    Part,
    Reasoning,
    StreamEvent,
    ToolCall,
    merge_meta,
)
from omniroute_mitm.translators.provenance import (
    SIGNED_MEMBER,
    keep_issued,
    may_change,
    outbound_body,
    outbound_parsed,
    unwrap_pieces,
)

log = logging.getLogger(__name__)

CAPACITY = 4096
UNCARRYING_CLIENTS = frozenset({"openai-chat"})
"""Client formats with no opaque field to carry a provider's metadata."""


def needs_cache(client: str, provider: str) -> bool:
    """Whether a call from ``client`` to ``provider`` goes through the cache."""
    return client in UNCARRYING_CLIENTS and client != provider


@dataclass(slots=True)
class Entry:
    """One tool call's metadata from the provider format ``fmt``: the call's
    own meta and the signed thinking that came before it."""

    fmt: str
    call_meta: Meta = field(default_factory=dict)
    reasoning: list[Reasoning] = field(default_factory=list)


class ThoughtCache:
    """A bounded LRU of :class:`Entry` by tool-call id. Not thread-safe: one
    engine's event loop uses it."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._restored: dict[int, tuple[ToolCall, Entry, ToolCall, list[Reasoning]]] = {}
        """What :meth:`restore` made of a call and its entry, by the call's
        identity (holding it: its id stays its own): a remembered call
        (engine.translate.memo) gets the same copies each turn, and an
        agent's whole history is restored every turn."""

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._entries

    def get(self, call_id: str, fmt: str) -> Entry | None:
        """The entry for ``call_id`` if ``fmt`` issued it (marks it used)."""
        entry = self._entries.get(call_id)
        if entry is None or entry.fmt != fmt:
            return None
        self._entries.move_to_end(call_id)
        return entry

    def put(self, call_id: str, entry: Entry) -> None:
        self._entries[call_id] = entry
        self._entries.move_to_end(call_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    # ---------------------------------------------------------------- record

    def record(self, fmt: str, parts: Iterable[Part]) -> int:
        """Remember the metadata of each tool call among ``parts`` (one
        assistant turn from provider format ``fmt``); returns how many."""
        recorded = 0
        pending: list[Reasoning] = []
        for part in parts:
            if isinstance(part, Reasoning):
                if part.meta.get(fmt):
                    pending.append(Reasoning(part.text, copy.deepcopy(part.meta)))
            elif isinstance(part, ToolCall):
                recorded += self.record_call(fmt, part.id, part.meta, pending)
                pending = []
        return recorded

    def recorder(self, fmt: str) -> StreamRecorder:
        """A stream observer that records each tool call as its block ends."""
        return StreamRecorder(self, fmt)

    def observer(self, client: str, fmt: str) -> Callable[[list[StreamEvent]], None] | None:
        """For a stream from ``fmt`` to ``client``: what records its events,
        or None when the client carries the metadata itself."""
        return self.recorder(fmt).feed if needs_cache(client, fmt) else None

    def record_call(self, fmt: str, call_id: str, meta: Meta, reasoning: list[Reasoning]) -> int:
        own = meta.get(fmt)
        if not call_id or not (own or reasoning):
            return 0
        call_meta: Meta = {fmt: copy.deepcopy(own)} if own else {}
        self.put(call_id, Entry(fmt, call_meta, list(reasoning)))
        return 1

    # --------------------------------------------------------------- restore

    def restore(self, fmt: str, messages: list[Message]) -> int:
        """Put cached metadata from ``fmt`` back onto the assistant tool calls
        in ``messages`` that lack it; returns how many calls got some. The
        calls are replaced by copies in new part lists (never changed in
        place: they may be shared with other requests, engine.translate.memo)."""
        restored = 0
        for message in messages:
            if message.role == "assistant":
                restored += self._restore_message(fmt, message)
        return restored

    def _restore_message(self, fmt: str, message: Message) -> int:
        entries = self._entries
        if not any(isinstance(p, ToolCall) and p.id in entries for p in message.parts):
            return 0
        has_thinking = any(isinstance(p, Reasoning) and p.meta.get(fmt) for p in message.parts)
        parts: list[Part] = []
        restored = 0
        for part in message.parts:
            entry = None
            if isinstance(part, ToolCall) and not part.meta.get(fmt):
                entry = self.get(part.id, fmt)
            if entry is None:
                parts.append(part)
                continue
            restored += 1
            call, thinking = self._copies(part, entry)
            if not has_thinking and thinking:
                at = _thinking_slot(parts) if restored == 1 else len(parts)
                parts[at:at] = thinking
            parts.append(call)
        message.parts = parts
        return restored

    def _copies(self, call: ToolCall, entry: Entry) -> tuple[ToolCall, list[Reasoning]]:
        """``call`` with ``entry``'s meta and the thinking before it: new
        parts, the same ones each time for the same call and entry (shared
        like a remembered message's: never changed in place)."""
        known = self._restored.get(id(call))
        if known is not None and known[0] is call and known[1] is entry:
            return known[2], known[3]
        copied = _with_meta(call, entry.call_meta)
        thinking = [Reasoning(r.text, copy.deepcopy(r.meta)) for r in entry.reasoning]
        if len(self._restored) >= self.capacity:
            self._restored.clear()
        self._restored[id(call)] = (call, entry, copied, thinking)
        return copied, thinking


def _with_meta(call: ToolCall, extra: Meta) -> ToolCall:
    """``call`` with ``extra`` merged into its meta: a copy (the call may be a
    remembered message's, shared with other requests: never changed in place)."""
    meta: Meta = dict(call.meta)
    for fmt, values in copy.deepcopy(extra).items():
        meta[fmt] = {**meta.get(fmt, {}), **values}
    return replace(call, meta=meta)


def _thinking_slot(parts: list[Part]) -> int:
    """Where the first call's thinking goes: after any reasoning the message
    opens with, before its text (Anthropic wants thinking first, and a Chat
    client's message puts text before its tool calls whatever the order was)."""
    for i, part in enumerate(parts):
        if not isinstance(part, Reasoning):
            return i
    return len(parts)


class StreamRecorder:
    """Follows a provider's canonical stream events (without changing them)
    and records each tool call in the cache when its block ends."""

    def __init__(self, cache: ThoughtCache, fmt: str) -> None:
        self.cache = cache
        self.fmt = fmt
        self.recorded = 0
        self._open: dict[int, Part] = {}
        self._text: dict[int, list[str]] = {}
        self._meta: dict[int, Meta] = {}
        self._pending: list[Reasoning] = []

    def feed(self, events: list[StreamEvent]) -> None:
        for event in events:
            if isinstance(event, BlockStart):
                if isinstance(event.part, Reasoning | ToolCall):
                    self._open[event.index] = event.part
                    self._text[event.index] = [getattr(event.part, "text", "")]
                    self._meta[event.index] = copy.deepcopy(event.part.meta)
            elif isinstance(event, BlockDelta):
                if event.index in self._text:
                    self._text[event.index].append(event.text)
            elif isinstance(event, BlockEnd):
                self._end(event)

    def _end(self, event: BlockEnd) -> None:
        part = self._open.pop(event.index, None)
        text = "".join(self._text.pop(event.index, []))
        meta = self._meta.pop(event.index, {})
        merge_meta(meta, copy.deepcopy(event.meta))
        if isinstance(part, Reasoning):
            if meta.get(self.fmt):
                self._pending.append(Reasoning(text, meta))
        elif isinstance(part, ToolCall):
            self.recorded += self.cache.record_call(self.fmt, part.id, meta, self._pending)
            self._pending = []


# ------------------------------------------------------- signatures by issuer


def outbound(client: str, target: str, body: bytes) -> bytes:
    """The body to send ``target`` (a provider's config name, or ``native``)
    for a ``client``-format request passed through unparsed: only the
    signatures ``target`` issued, unwrapped; thinking turned off where a tool
    loop would otherwise lack it. The same bytes object when nothing foreign
    is present (one substring search per signature field)."""
    out = outbound_body(client, target, body)
    if out is not body:
        log.debug("%s: signatures from other issuers removed", target)
    return out


def outbound_object(
    client: str, target: str, body: dict[str, Any], raw: bytes
) -> dict[str, Any] | None:
    """:func:`outbound` for a body parsed already (``raw``: its bytes, for
    the substring check): the body to send (``body`` itself untouched), or
    None when it goes as it is. Nothing is parsed again."""
    if not may_change(client, target, raw):
        return None
    out = outbound_parsed(client, target, body)
    if out is not None:
        log.debug("%s: signatures from other issuers removed", target)
    return out


def outbound_raw(
    client: str, target: str, top: TopLevel, raw: bytes
) -> dict[str, list[Buffer]] | None:
    """:func:`outbound_object` on a body split at its top level: the members
    whose bytes change (``{}``: none), each as the pieces its new bytes join
    from (:meth:`TopLevel.encode` joins the whole body once), or None when
    the signatures need the parsed body (one to drop, or a field the bytes
    cannot vouch for)."""
    if not may_change(client, target, raw):
        return {}
    member = SIGNED_MEMBER.get(client)
    data = top.raw(member) if member is not None else None
    if member is None or data is None:
        return None
    pieces = unwrap_pieces(client, target, data)
    if pieces is None:
        return None
    return {} if len(pieces) == 1 else {member: pieces}


def keep_own(messages: list[Message], fmt: str, target: str) -> None:
    """Translated requests: ``fmt`` signatures only where ``target`` issued them."""
    if keep_issued(messages, fmt, target):
        log.debug("%s: signatures from other issuers removed", target)


# ---------------------------------------------------------------- a retry without thinking

_ANTHROPIC_THINKING = frozenset({"thinking", "redacted_thinking"})


def without_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic thinking blocks, Responses reasoning items and Gemini thought
    parts (with their signatures) removed; everything else as it was."""
    out = dict(body)
    if isinstance(body.get("messages"), list):
        out["messages"] = [_message(m) for m in body["messages"]]
    if isinstance(body.get("input"), list):
        out["input"] = [
            item
            for item in body["input"]
            if not (isinstance(item, dict) and item.get("type") == "reasoning")
        ]
    if isinstance(body.get("contents"), list):
        out["contents"] = [_content(c) for c in body["contents"]]
    return out


def _message(message: Any) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    blocks = [
        b
        for b in message["content"]
        if not (isinstance(b, dict) and b.get("type") in _ANTHROPIC_THINKING)
    ]
    return {**message, "content": blocks}


def _content(content: Any) -> Any:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return content
    parts = []
    for part in content["parts"]:
        if isinstance(part, dict):
            if part.get("thought"):
                continue
            part = {k: v for k, v in part.items() if k != "thoughtSignature"}
        parts.append(part)
    return {**content, "parts": parts}
