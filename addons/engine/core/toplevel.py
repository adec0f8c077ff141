"""A request body's top level, without parsing the rest of it.

A coding agent resends the whole conversation every turn (0.2-1 MB of
JSON), and when client and provider speak one format the engine needs only
a few of its top-level members: the model, ``stream``, ``max_tokens``, the
tool list, the session in ``metadata``. :class:`TopLevel` splits the body
into its members' raw JSON (msgspec skips over each value, checking its
syntax, without building a Python object for it) and decodes a member on
first use; a passed-through body is written back from those pieces, with
only the members that change encoded again.

The next turn of a conversation is the same bytes but for its last turns:
the split of a long body is remembered (:data:`_SPLITS`), and a body that
differs from one only inside its list of turns is checked from the last
turn that stayed the same (see :class:`_Split`).

Whatever needs the whole body (a translation, the Responses state, a
continuation) parses it as before (:func:`.calls.parse_json`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Buffer, Iterator, Mapping, Sequence
from itertools import accumulate
from typing import Any

import msgspec
from omniroute_mitm.translators.resent import Resent
from omniroute_mitm.translators.sse import loads_exact

from .calls import dumps

_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_NESTED = msgspec.json.Decoder(list[list[msgspec.Raw]])
"""A list member's elements at the depth they have in the body (msgspec's
recursion limit counts the object around them)."""
_MISSING = object()
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)
"""(msgspec raises the last for a key of invalid UTF-8.)"""

Spans = tuple[list[int], list[int]]
"""Where a list member's elements start and end, from the member's first byte."""


class TopLevel(Mapping[str, Any]):
    """The members of a JSON object body, each decoded (exactly, as
    :func:`.calls.parse_json` would) the first time it is read."""

    __slots__ = ("_raw", "_decoded", "_spans")

    def __init__(
        self, members: Mapping[str, Buffer], spans: dict[str, Spans] | None = None
    ) -> None:
        self._raw = members
        self._decoded: dict[str, Any] = {}
        self._spans = {} if spans is None else spans  # (shared with the remembered split)

    @classmethod
    def split(cls, body: bytes) -> TopLevel | None:
        """The body's members; None when it is not a JSON object of valid
        UTF-8 that msgspec reads (the whole-body parse then decides, and
        answers a bad body with its 400). A long body that continues one
        split before is checked only where it differs."""
        if len(body) < _LONG:
            members = _split(body)
            return None if members is None else cls(members)
        last, same = _SPLITS.closest(body)
        done = None if last is None else last.value.then(body, same)
        if done is None:
            members = _split(body)
            if members is None:
                return None
            done = _Split(body, {}, raws=members)  # (placed if a next turn comes)
            _SPLITS.remember(body, done, replaces=last)
            return cls(members, done.spans)
        _SPLITS.remember(body, done, replaces=last)
        return cls(done.views(), done.spans)

    def __getitem__(self, key: str) -> Any:
        value = self._decoded.get(key, _MISSING)
        if value is _MISSING:
            value = loads_exact(bytes(self._raw[key]))
            self._decoded[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def raw(self, key: str) -> bytes | None:
        """A member's JSON as it came, or None."""
        value = self._raw.get(key)
        return None if value is None else bytes(value)

    def items_of(self, key: str) -> Iterator[Any] | None:
        """The elements of a list member, each decoded when reached (the
        first user turn of a long conversation without decoding the rest);
        None when the member is not a list."""
        elements = self.elements(key)
        if elements is None:
            return None
        return (loads_exact(bytes(element)) for element in elements)

    def elements(self, key: str) -> list[Buffer] | None:
        """The raw JSON of each element of a list member (views of the body
        where its elements are placed: a next turn's split placed those it
        kept); None when the member is not a list."""
        raw = self._raw.get(key)
        if raw is None:
            return None
        view = memoryview(raw)
        spans = self._spans.get(key)
        if spans is None:
            try:
                items = _ITEMS.decode(raw)
            except msgspec.ValidationError:  # not a list
                return None
            spans = _places(view, 0, items, first=True)
            if spans is None:
                return list(items)
            self._spans[key] = spans  # (the next turn starts from them)
        starts, ends = spans
        return [view[s:e] for s, e in zip(starts, ends, strict=True)]

    def spans(self, key: str) -> Spans | None:
        """Where each element of a list member starts and ends in the
        member's bytes, once :meth:`elements` placed them (None before, or
        when it could not)."""
        return self._spans.get(key)

    def subset(self, *keys: str) -> dict[str, Any]:
        """A plain dict of the named members present (decoded)."""
        return {key: self[key] for key in keys if key in self._raw}

    def encode(self, changes: Mapping[str, Any], raws: Mapping[str, Sequence[Buffer]]) -> bytes:
        """The body again: members in their order, ``changes`` encoded in
        place of theirs (new ones at the end), ``raws`` (a member's new bytes
        as pieces to join) as given, every other member's bytes as they came.
        Compact at the top level, like msgspec's encoding of the members; the
        pieces are joined once (a 1 MB body is copied once, not per step)."""
        out: list[Buffer] = [b"{"]
        for key, raw in self._raw.items():
            if len(out) > 1:
                out.append(b",")
            out.append(_key(key))
            if key in changes:
                out.append(dumps(changes[key]))
            elif key in raws:
                out += raws[key]
            else:
                out.append(raw)
        for key, value in changes.items():
            if key not in self._raw:
                if len(out) > 1:
                    out.append(b",")
                out += (_key(key), dumps(value))
        out.append(b"}")
        return b"".join(out)


def _key(key: str) -> bytes:
    """A member's name and colon as msgspec writes them."""
    return _ENCODE(key) + b":"


_ENCODE = msgspec.json.encode


def _split(body: bytes) -> dict[str, msgspec.Raw] | None:
    """The members as msgspec reads them, or None."""
    try:
        members = _MEMBERS.decode(body)
    except _DECODE_ERRORS:
        return None
    if not _utf8(body):
        return None
    return members


def _utf8(data: bytes) -> bool:
    """msgspec passes skipped strings unchecked."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ------------------------------------------------------------ the next turn


class _Split:
    """Where one body's members are: each value's start and end (found from
    msgspec's members when a next turn needs them), and the elements of its
    list members known so far (:data:`Spans`)."""

    __slots__ = ("body", "spans", "_raws", "_members")

    def __init__(
        self,
        body: bytes,
        spans: dict[str, Spans],
        *,
        raws: Mapping[str, msgspec.Raw] | None = None,
        members: list[tuple[str, int, int]] | None = None,
    ) -> None:
        self.body = body
        self.spans = spans
        self._raws = raws
        self._members = members

    def members(self) -> list[tuple[str, int, int]] | None:
        """Each member's name and value span; None on any surprise (a
        duplicate key: msgspec kept its last value)."""
        if self._raws is not None:
            self._members, self._raws = _placed(self.body, self._raws), None
        return self._members

    def views(self) -> dict[str, memoryview]:
        view = memoryview(self.body)
        return {key: view[start:end] for key, start, end in self._members or ()}

    def then(self, body: bytes, same: int) -> _Split | None:
        """The split of ``body``, which shares its first ``same`` bytes with
        this one's, when it differs only inside one list member: that list
        checked from its last element before the difference. None when it
        cannot tell (the caller splits ``body`` whole)."""
        old, members = self.body, self.members()
        if members is None:
            return None
        if same == len(old) == len(body):
            return _Split(body, dict(self.spans), members=members)
        changed = len(old) - _common_suffix(old, body, min(len(old), len(body)) - same)
        at = next((i for i, m in enumerate(members) if m[1] < same and changed < m[2]), None)
        if at is None:
            return None  # (more than one member changed, or a key)
        key, start, end = members[at]
        if old[start] != _OPEN:
            return None
        grown = len(body) - len(old)
        spans = _tail(body, start, end + grown, same, self.spans.get(key, ([], [])))
        if spans is None:
            return None  # (the list is no longer one valid JSON list: the whole body decides)
        moved = members[:at] + [(key, start, end + grown)]
        moved += [(k, s + grown, e + grown) for k, s, e in members[at + 1 :]]
        return _Split(body, {**self.spans, key: spans}, members=moved)


def _placed(body: bytes, members: Mapping[str, msgspec.Raw]) -> list[tuple[str, int, int]] | None:
    """Where the members msgspec found in ``body`` are; None on any surprise."""
    found: list[tuple[str, int, int]] = []
    opening = _OPENING.match(body)
    if opening is None:
        return None
    pos = opening.end()
    for key, raw in members.items():
        m = (_FIRST_KEY if not found else _NEXT_KEY).match(body, pos)
        if m is None or _name(m.group(1)) != key or not body.startswith(raw, m.end()):
            return None
        pos = m.end() + len(raw)
        found.append((key, m.end(), pos))
    end = _CLOSE.match(body, pos)
    return found if end is not None and end.end() == len(body) else None


def _tail(body: bytes, start: int, end: int, same: int, spans: Spans) -> Spans | None:
    """The elements of ``body[start:end]``, a list whose bytes are those of
    the one ``spans`` describes up to ``same``: the elements that end before
    it kept, the rest decoded; None when that is not a valid list."""
    starts, ends = spans
    kept = bisect_left(ends, same - start)  # (the byte after each is alike)
    if kept:
        cut = start + ends[kept - 1]
        tail = b"".join((b"[[0", memoryview(body)[cut:end], b"]"))  # ("0": the elements kept)
    else:
        cut = start
        tail = b"".join((b"[", memoryview(body)[start:end], b"]"))
    try:
        items = _NESTED.decode(tail)[0][1 if kept else 0 :]
    except _DECODE_ERRORS:
        return None
    if not _utf8(tail):
        return None
    found = _places(memoryview(body)[start:end], cut - start, items, first=not kept)
    if found is None:
        return None
    return starts[:kept] + found[0], ends[:kept] + found[1]


def _places(view: memoryview, pos: int, items: list[msgspec.Raw], *, first: bool) -> Spans | None:
    """Where ``items``, the last elements of the list ``view``, are (from
    its first byte): from ``pos``, the list's start (``first``) or the end
    of the element before them. None when they are not found there."""
    sizes = [len(item) for item in items]
    # the brackets and a comma between two; or a comma before each, the bracket
    gaps = max(len(items) - 1, 0) + 2 if first else len(items) + 1
    if len(view) - pos == sum(sizes) + gaps:  # no whitespace: each after one byte
        ends = list(accumulate((size + 1 for size in sizes), initial=pos))[1:]
        return [end - size for end, size in zip(ends, sizes, strict=True)], ends
    starts: list[int] = []
    ends = []
    at = pos + 1 if first else pos
    for item in items:
        m = (_WS if first and not starts else _COMMA).match(view, at)
        if m is None:
            return None
        starts.append(m.end())  # (msgspec's elements, in order: the grammar places them)
        at = m.end() + len(item)
        ends.append(at)
    end = _END.match(view, at)
    return (starts, ends) if end is not None and end.end() == len(view) else None


def _name(raw: bytes) -> str | None:
    """A key as decoded, from its bytes between the quotes."""
    if b"\\" not in raw:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        name = msgspec.json.decode(b'"' + raw + b'"')
    except _DECODE_ERRORS:
        return None
    return name if isinstance(name, str) else None


def _common_suffix(old: bytes, new: bytes, most: int) -> int:
    """How many trailing bytes ``old`` and ``new`` share, at most ``most``."""
    view, shift = memoryview(old), len(new) - len(old)
    done = 0  # old[len - done:] is alike
    while done < most:
        step = min(_BLOCK, most - done)
        end = len(old) - done
        if new.startswith(view[end - step : end], end - step + shift):
            done += step
            continue
        low, high = 0, step  # the last low bytes before end are alike, not the last high
        while high - low > 1:
            mid = (low + high) // 2
            if new.startswith(view[end - mid : end - low], end - mid + shift):
                low = mid
            else:
                high = mid
        return done + low
    return done


_LONG = 1 << 15
"""Bodies from this size on are remembered (a split of less costs little)."""
_SPLITS: Resent[_Split] = Resent(keep=8)
"""The last splits (each holds its body)."""
_BLOCK = 1 << 16
_OPEN = ord("[")
_WS = re.compile(rb"[ \t\n\r]*")
_COMMA = re.compile(rb"[ \t\n\r]*,[ \t\n\r]*")
_FIRST_KEY = re.compile(rb'[ \t\n\r]*"((?:[^"\\]|\\.)*)"[ \t\n\r]*:[ \t\n\r]*', re.S)
_NEXT_KEY = re.compile(rb'[ \t\n\r]*,[ \t\n\r]*"((?:[^"\\]|\\.)*)"[ \t\n\r]*:[ \t\n\r]*', re.S)
_OPENING = re.compile(rb"[ \t\n\r]*{")
_END = re.compile(rb"[ \t\n\r]*]")
_CLOSE = re.compile(rb"[ \t\n\r]*}[ \t\n\r]*")
