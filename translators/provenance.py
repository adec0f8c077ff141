"""Who issued a reasoning signature, so it only ever goes back there.

A signature (Anthropic ``signature`` and redacted ``data``, Gemini
``thoughtSignature``, Responses ``encrypted_content``) is valid only at the
provider that issued it: another Anthropic-format provider, or the user's own
subscription (``native``), rejects it. The issuer is named by the caller (a
configured provider's name, or :data:`NATIVE`) and travels with the meta as
``meta[format]["by"]``:

* Translated streams and responses get ``by`` stamped on the provider's meta
  (:func:`stamp_events`, :func:`stamp_parts`), so envelopes made by
  :func:`~translators.canonical.wrap_meta` name the issuer.
* Same-format streams and responses from a provider keep their bytes, except
  that each signature value is replaced by an envelope naming the provider
  (:class:`SignatureStamper`).
* A signature that is not in an envelope was issued by the client's native
  destination (the real Anthropic, Google or OpenAI behind the client).

On the way out, :func:`keep_issued` (canonical requests) and
:func:`outbound_body` (bodies passed through unparsed: same format, native)
unwrap what the target issued and drop every other signature; where that
leaves an Anthropic tool loop without its thinking, thinking is turned off
for the request rather than sending an invalid block.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Buffer, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .canonical import (
    BlockEnd,
    BlockStart,
    Message,
    Meta,
    Part,
    Reasoning,
    StreamEvent,
    unwrap_meta,
    wrap_meta,
)
from .copies import Copies
from .resent import Resent
from .sse import dumps, loads_exact

BY = "by"
NATIVE = "native"
_ENVELOPE = b"AG9tcj"  # how every envelope starts (see canonical.wrap_meta)
_ENVELOPE_TEXT = _ENVELOPE.decode()
SIGNATURE_KEYS = ("signature", "data", "thoughtSignature", "encrypted_content")
_DUMMY = "skip_thought_signature_validator"  # Gemini's documented placeholder

# ------------------------------------------------------------------ stamping


def stamp_meta(meta: Meta, fmt: str, issuer: str) -> None:
    entry = meta.get(fmt)
    if entry:
        entry[BY] = issuer


def stamp_events(events: Iterable[StreamEvent], fmt: str, issuer: str) -> None:
    """Name ``issuer`` on the provider format's meta in ``events``."""
    for event in events:
        if isinstance(event, BlockEnd):
            if event.meta:
                stamp_meta(event.meta, fmt, issuer)
        elif isinstance(event, BlockStart) and event.part.meta:
            stamp_meta(event.part.meta, fmt, issuer)


def stamp_parts(parts: Iterable[Part], fmt: str, issuer: str) -> None:
    for part in parts:
        if part.meta:
            stamp_meta(part.meta, fmt, issuer)


# Where each format's signatures sit in its bytes (values are base64: no escapes).
_PATTERNS: dict[str, tuple[tuple[bytes, re.Pattern[bytes], str], ...]] = {
    "anthropic": (
        (b'"signature"', re.compile(rb'("signature"\s*:\s*")([^"\\]+)"'), "signature"),
        (
            b"redacted_thinking",
            re.compile(rb'("type"\s*:\s*"redacted_thinking"\s*,\s*"data"\s*:\s*")([^"\\]+)"'),
            "data",
        ),
    ),
    "gemini": (
        (
            b"thoughtSignature",
            re.compile(rb'("thoughtSignature"\s*:\s*")([^"\\]+)"'),
            "thoughtSignature",
        ),
    ),
    "openai-responses": (
        (
            b"encrypted_content",
            re.compile(rb'("encrypted_content"\s*:\s*")([^"\\]+)"'),
            "encrypted_content",
        ),
    ),
}


def stamp_bytes(fmt: str, issuer: str, data: bytes) -> bytes:
    """``data`` (a body or whole SSE events of ``fmt``) with every signature
    value replaced by an envelope naming ``issuer``."""
    for marker, pattern, key in _PATTERNS.get(fmt, ()):
        if marker in data:

            def wrap(m: re.Match[bytes], key: str = key) -> bytes:
                value = m.group(2)
                if value.startswith(_ENVELOPE) or value == _DUMMY.encode():
                    return m.group(0)
                meta = {fmt: {key: value.decode("ascii", "replace"), BY: issuer}}
                return m.group(1) + wrap_meta(meta).encode() + b'"'

            data = pattern.sub(wrap, data)
    return data


class SignatureStamper:
    """Same-format stream bytes with their signatures wrapped (see
    :func:`stamp_bytes`). Output is cut at event boundaries, so a signature
    split across chunks is rewritten whole; otherwise the bytes are as sent."""

    __slots__ = ("fmt", "issuer", "_markers", "_tail")

    def __init__(self, fmt: str, issuer: str) -> None:
        self.fmt, self.issuer = fmt, issuer
        self._markers = tuple(marker for marker, _, _ in _PATTERNS.get(fmt, ()))
        self._tail = b""

    @staticmethod
    def applies(fmt: str) -> bool:
        return fmt in _PATTERNS

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk if self._tail else chunk
        if data.endswith((b"\n\n", b"\r\n\r\n")):  # the usual: whole events
            self._tail = b""
        else:
            cut = max(_after(data, b"\n\n"), _after(data, b"\r\n\r\n"), _after(data, b"\r\r"))
            self._tail = data[cut:]
            data = data[:cut]
            if not data:
                return b""
        for marker in self._markers:
            if marker in data:
                return stamp_bytes(self.fmt, self.issuer, data)
        return data

    def finish(self) -> bytes:
        data, self._tail = self._tail, b""
        return stamp_bytes(self.fmt, self.issuer, data) if data else b""


def _after(data: bytes, boundary: bytes) -> int:
    at = data.rfind(boundary)
    return 0 if at < 0 else at + len(boundary)


# ------------------------------------------------------------ canonical requests


def keep_issued(messages: list[Message], fmt: str, target: str) -> int:
    """Keep ``fmt``'s signatures only where ``target`` issued them; returns
    how many were dropped. Meta without an issuer came from the client as is:
    its native destination issued it.

    The parts may be shared with other requests (remembered messages): a
    part whose meta changes is replaced in its message by a copy, its meta
    dicts copied before the first change (:class:`_Writes`), never changed
    in place."""
    writes = _Writes()
    dropped = 0
    for message in messages:
        for part in message.parts:
            meta = writes.read(part.meta)
            entry = writes.read(meta[fmt]) if meta and fmt in meta else None
            if not entry:
                continue
            by = entry.get(BY, NATIVE)
            if BY in entry:
                writes.entry(part.meta, fmt).pop(BY)
            if by == target:
                continue
            if isinstance(part, Reasoning):
                del writes.copy(part.meta)[fmt]
                dropped += 1
                continue
            for key in SIGNATURE_KEYS:
                if key in writes.read(meta[fmt]):
                    dropped += writes.entry(part.meta, fmt).pop(key) is not None
    if writes.copies:
        writes.apply(messages)
    return dropped


class _Writes:
    """Copies of the meta dicts :func:`keep_issued` changes, by the identity
    of the original: every read goes through them, so two parts that share
    a dict see each other's changes as they would in place."""

    __slots__ = ("copies",)

    def __init__(self) -> None:
        self.copies: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def read(self, d: dict[str, Any]) -> dict[str, Any]:
        held = self.copies.get(id(d))
        return d if held is None else held[1]

    def copy(self, d: dict[str, Any]) -> dict[str, Any]:
        """The writable copy of ``d`` (the original is kept: ids stay unique)."""
        held = self.copies.get(id(d))
        if held is None:
            held = self.copies[id(d)] = (d, dict(d))
        return held[1]

    def entry(self, meta: Meta, fmt: str) -> dict[str, Any]:
        """The writable copy of ``meta[fmt]`` as it reads now."""
        return self.copy(self.read(meta)[fmt])

    def apply(self, messages: list[Message]) -> None:
        """Each part whose meta (or an entry of it) was copied replaced by
        a copy of the part holding the copies."""
        for message in messages:
            parts = message.parts
            for i, part in enumerate(parts):
                meta = self.read(part.meta)
                changed = meta is not part.meta
                new: Meta = {}
                for key, value in meta.items():
                    new[key] = self.read(value)
                    changed = changed or new[key] is not value
                if changed:
                    parts[i] = _KEPT.with_meta(part, new, by_value=True)


_KEPT = Copies()
"""Parts with only the signatures kept: the same copy each turn for a
remembered part. Compared by value: the meta is made of the part's own
values (copies of its dicts with keys removed: equal means the same), and
nothing after this step tells a dict shared between parts from an equal one."""


# ------------------------------------------------------ bodies passed through


def outbound_body(fmt: str, target: str, body: bytes) -> bytes:
    """A ``fmt`` body going unparsed to ``target`` (a provider's name or
    :data:`NATIVE`) with only ``target``'s signatures, unwrapped. The same
    bytes when there is nothing to change (checked without parsing)."""
    if not may_change(fmt, target, body):
        return body
    try:
        obj = loads_exact(body)
    except ValueError:
        return body
    out = outbound_parsed(fmt, target, obj) if isinstance(obj, dict) else None
    return body if out is None else dumps(out).encode()


def may_change(fmt: str, target: str, body: bytes) -> bool:
    """Whether ``body`` (``fmt``'s bytes) may carry a signature ``target``
    must not get as it is: one substring search per signature field."""
    patterns = _PATTERNS.get(fmt)
    if not patterns or not any(marker in body for marker, _, _ in patterns):
        return False
    return target != NATIVE or _ENVELOPE in body  # native signatures go back where they came from


_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]+")
_COLON_QUOTE = re.compile(rb'\s*:\s*"')
_DUMMY_BYTES = _DUMMY.encode()
_SIGNED_KEY = {
    "anthropic": "signature",
    "gemini": "thoughtSignature",
    "openai-responses": "encrypted_content",
}
SIGNED_MEMBER = {"anthropic": "messages", "gemini": "contents", "openai-responses": "input"}
"""The top-level member that holds a format's signatures (where
:func:`unwrap_bytes` can rewrite them without a parse)."""


def all_native(fmt: str, body: bytes) -> bool:
    """Whether ``body`` carries signatures and none in an envelope: all
    issued by the client's native destination (a session that did not come
    through a configured provider), dropped for any other target."""
    patterns = _PATTERNS.get(fmt, ())
    return any(marker in body for marker, _, _ in patterns) and _ENVELOPE not in body


def unwrap_bytes(fmt: str, target: str, data: bytes) -> bytes | None:
    """``data`` (the :data:`SIGNED_MEMBER` of a ``fmt`` body) with every
    signature ``target`` issued unwrapped, without parsing it: the same
    object when nothing changes. None when the bytes cannot settle it (a
    signature of another issuer to drop, a redacted thinking block, a field
    not written as a plain string): :func:`outbound_parsed` on the parsed
    body then decides."""
    pieces = unwrap_pieces(fmt, target, data)
    if pieces is None:
        return None
    return data if pieces[0] is data else b"".join(pieces)


def unwrap_pieces(fmt: str, target: str, data: bytes) -> list[Buffer] | None:
    """:func:`unwrap_bytes` as the pieces to join: views of ``data`` between
    the values that change, and their new bytes (``[data]`` when nothing
    changes). A caller that writes them into a larger body joins once.

    An agent resends its whole conversation every turn: what the previous
    turn's member held comes again, byte for byte, up to where the new one
    differs (a moved cache mark, the new turns). The last scan of the
    member that began alike (:data:`_SCANS`) is taken up to there, and the
    rest scanned."""
    key = _SIGNED_KEY.get(fmt)
    if key is None:
        return None
    last, same = _SCANS.closest(data, (fmt, target))
    edits: list[tuple[int, int, bytes]] = []
    ends: list[int] = []
    resume = 0
    if last is not None:
        kept = bisect.bisect_left(last.value.ends, same)  # the values whose closing quote is alike
        if kept:
            ends = last.value.ends[:kept]
            resume = ends[-1] + 1
            edits = [e for e in last.value.edits if e[1] < resume]
    # (the earlier scan found none before ``same``; a match may straddle it)
    if fmt == "anthropic" and data.find(b"redacted_thinking", max(resume - 32, 0)) >= 0:
        _SCANS.forget(last)
        return None
    if not _scan(fmt, key, target, data, resume, edits, ends):
        _SCANS.forget(last)
        return None
    _SCANS.remember(data, _Scan(edits, ends), (fmt, target), replaces=last)
    if not edits:
        return [data]
    view = memoryview(data)
    pieces: list[Buffer] = []
    done = 0
    for start, end, raw in edits:
        pieces += (view[done:start], raw)
        done = end
    pieces.append(view[done:])
    return pieces


def _scan(
    fmt: str,
    key: str,
    target: str,
    data: bytes,
    at: int,
    edits: list[tuple[int, int, bytes]],
    ends: list[int],
) -> bool:
    """Every ``key`` value of ``data`` from ``at`` on: each one's new bytes
    where they change go on ``edits`` (start, end, bytes), the position of
    its closing quote on ``ends``. False when the bytes cannot settle it."""
    quoted = _QUOTED[fmt]  # (in a string a quote is escaped: only keys match)
    after = len(quoted)
    known = _RAW_BYTES.get((fmt, target))
    if known is None or len(known) > _RAW_BYTES_MAX:
        known = _RAW_BYTES[fmt, target] = {}
    find, startswith = data.find, data.startswith
    at = find(quoted, at)
    while at >= 0:
        start = at + after
        if startswith(b':"', start):  # compact JSON, what clients send
            start += 2
        elif startswith(b': "', start):  # Python's json.dumps
            start += 3
        else:
            m = _COLON_QUOTE.match(data, start)
            if m is None:
                return False  # not a string: the walker decides
            start = m.end()
        end = find(b'"', start)
        if end < 0:
            return False
        value = data[start:end]
        raw = known.get(value)
        if raw is None:
            if b"\\" in value:
                return False  # escaped: no signature is
            if fmt == "gemini" and value == _DUMMY_BYTES:
                raw = value
            else:
                raw = _raw_for(value, fmt, key, target)
                if raw is None:
                    return False  # dropped by the walker (another issuer's, or a carrier)
            known[value] = raw
        if raw is not value and raw != value:
            edits.append((start, end, raw))
        ends.append(end)
        at = find(quoted, end + 1)
    return True


@dataclass(slots=True)
class _Scan:
    """What :func:`unwrap_pieces` found in one member."""

    edits: list[tuple[int, int, bytes]]
    ends: list[int]


_SCANS: Resent[_Scan] = Resent(keep=8)
"""The last scans, by format, target and opening (each holds its member's bytes)."""


_QUOTED = {fmt: b'"' + key.encode() + b'"' for fmt, key in _SIGNED_KEY.items()}
_RAW_BYTES: dict[tuple[str, str], dict[bytes, bytes]] = {}
"""Per (format, target): each signature value :func:`unwrap_bytes` has seen
and what it writes for it (a turn resends every earlier turn's signatures:
one dict lookup each instead of the envelope's checks). Emptied past
:data:`_RAW_BYTES_MAX` values (at most a few MB)."""
_RAW_BYTES_MAX = 2048


def outbound_parsed(fmt: str, target: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`outbound_body` on a body parsed already: a new body (sharing
    every unchanged part with ``body``, which is left as it was), or None
    when nothing changes. Call it only where :func:`may_change` said so."""
    walker = _WALKERS.get(fmt)
    return walker(body, target) if walker is not None else None


def _issued(value: Any, fmt: str, key: str) -> tuple[str | None, Any]:
    """(issuer, the raw value to send that issuer) of a signature field;
    (None, None) for an envelope that holds nothing of ``fmt``'s own."""
    if isinstance(value, str) and value.startswith(_ENVELOPE_TEXT):
        return _unwrapped(value, fmt, key)
    return NATIVE, value


def _raw_for(value: bytes, fmt: str, key: str, target: str) -> bytes | None:
    """What :func:`unwrap_bytes` writes for a signature ``value`` going to
    ``target``: its raw value, or None when ``target`` did not issue it (or
    the raw value is not plain base64). Asked once per value and target
    (:data:`_RAW_BYTES` keeps the answer; :func:`_unwrapped` the decoding,
    for at most 1,024 signatures: several sessions' histories)."""
    by, raw = _issued(value.decode("ascii", "replace"), fmt, key)
    if by != target or not isinstance(raw, str) or not _BASE64.fullmatch(raw):
        return None
    return raw.encode()


@functools.lru_cache(maxsize=1024)
def _unwrapped(value: str, fmt: str, key: str) -> tuple[str | None, Any]:
    """:func:`_issued` of an envelope, remembered: a session resends the same
    signatures with every turn (the answer is immutable strings)."""
    carried = unwrap_meta(value)
    if carried is None:
        return NATIVE, value
    entry = carried.get(fmt) or {}
    if not isinstance(entry.get(key), str):
        return None, None  # another format's metadata, or a carrier
    return str(entry.get(BY, NATIVE)), entry[key]


_ANTHROPIC_KEYS = {"thinking": "signature", "redacted_thinking": "data"}


def _anthropic(body: dict[str, Any], target: str) -> dict[str, Any] | None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    out_messages: list[Any] | None = None
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        kept, changed = [], False
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            key = _ANTHROPIC_KEYS.get(kind) if isinstance(kind, str) else None
            if key is None or key not in block:
                kept.append(block)
                continue
            by, raw = _issued(block[key], "anthropic", key)
            if by == target:
                changed = changed or raw != block[key]
                kept.append({**block, key: raw})
            else:
                changed = True
        if changed:
            if out_messages is None:
                out_messages = list(messages)
            out_messages[i] = {**message, "content": kept}
    if out_messages is None:
        return None
    out = {**body, "messages": out_messages}
    _thinking_off_if_blocked(out)
    return out


def _thinking_off_if_blocked(body: dict[str, Any]) -> None:
    """Anthropic rejects thinking when the last assistant turn that called
    tools does not open with its thinking: turn thinking off instead
    (``body`` is a copy: only its top-level fields change)."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return
    for message in reversed(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or not content or message.get("role") != "assistant":
            continue
        if not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content):
            continue
        first = content[0] if isinstance(content[0], dict) else {}
        if first.get("type") not in ("thinking", "redacted_thinking"):
            body.pop("thinking")
            _drop_thinking_edits(body)
        return


def _drop_thinking_edits(body: dict[str, Any]) -> None:
    management = body.get("context_management")
    if not isinstance(management, dict) or not isinstance(management.get("edits"), list):
        return
    edits = [
        e
        for e in management["edits"]
        if not (isinstance(e, dict) and str(e.get("type", "")).startswith("clear_thinking"))
    ]
    if edits:
        body["context_management"] = {**management, "edits": edits}
    else:
        body.pop("context_management")


def _gemini(body: dict[str, Any], target: str) -> dict[str, Any] | None:
    if not isinstance(body.get("contents"), list) and isinstance(body.get("request"), dict):
        # Code Assist's envelope around the Gemini request
        inner = _gemini(body["request"], target)
        return None if inner is None else {**body, "request": inner}
    contents = body.get("contents")
    if not isinstance(contents, list):
        return None
    out_contents: list[Any] | None = None
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            continue
        kept, changed = [], False
        for part in parts:
            sig = part.get("thoughtSignature") if isinstance(part, dict) else None
            if not isinstance(sig, str) or sig == _DUMMY:
                kept.append(part)
                continue
            by, raw = _issued(sig, "gemini", "thoughtSignature")
            if by == target:
                kept.append({**part, "thoughtSignature": raw})
            elif not part.get("thought"):
                rest = {k: v for k, v in part.items() if k != "thoughtSignature"}
                if "functionCall" in part:  # Gemini 3 wants one on a call
                    rest["thoughtSignature"] = _DUMMY
                kept.append(rest)
            changed = changed or kept[-1:] != [part]
        if changed:
            if out_contents is None:
                out_contents = list(contents)
            out_contents[i] = {**content, "parts": kept}
    return None if out_contents is None else {**body, "contents": out_contents}


def _responses(body: dict[str, Any], target: str) -> dict[str, Any] | None:
    items = body.get("input")
    if not isinstance(items, list):
        return None
    kept, changed = [], False
    for item in items:
        reasoning = isinstance(item, dict) and item.get("type") == "reasoning"
        enc = item.get("encrypted_content") if reasoning else None
        if not isinstance(enc, str) or not enc:
            kept.append(item)
            continue
        by, raw = _issued(enc, "openai-responses", "encrypted_content")
        if by == target:
            kept.append({**item, "encrypted_content": raw} if raw != enc else item)
            changed = changed or raw != enc
        else:
            changed = True
    return {**body, "input": kept} if changed else None


_WALKERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any] | None]] = {
    "anthropic": _anthropic,
    "gemini": _gemini,
    "openai-responses": _responses,
}
