"""A request body's top level, without parsing the rest of it.

A coding agent resends the whole conversation every turn (0.2-1 MB of
JSON), and when client and provider speak one format the engine needs only
a few of its top-level members: the model, ``stream``, ``max_tokens``, the
tool list, the session in ``metadata``. :class:`TopLevel` splits the body
into its members' raw JSON (msgspec skips over each value, checking its
syntax, without building a Python object for it) and decodes a member on
first use; a passed-through body is written back from those pieces, with
only the members that change encoded again.

Whatever needs the whole body (a translation, the Responses state, a
continuation) parses it as before (:func:`.calls.parse_json`).
"""

from __future__ import annotations

from collections.abc import Buffer, Iterator, Mapping, Sequence
from typing import Any

import msgspec
from omniroute_mitm.translators.sse import loads_exact

from .calls import dumps

_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_MISSING = object()


class TopLevel(Mapping[str, Any]):
    """The members of a JSON object body, each decoded (exactly, as
    :func:`.calls.parse_json` would) the first time it is read."""

    __slots__ = ("_raw", "_decoded")

    def __init__(self, members: dict[str, msgspec.Raw]) -> None:
        self._raw = members
        self._decoded: dict[str, Any] = {}

    @classmethod
    def split(cls, body: bytes) -> TopLevel | None:
        """The body's members; None when it is not a JSON object of valid
        UTF-8 that msgspec reads (the whole-body parse then decides, and
        answers a bad body with its 400)."""
        try:
            members = _MEMBERS.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not body.isascii():
            try:
                body.decode("utf-8")  # msgspec passes skipped strings unchecked
            except UnicodeDecodeError:
                return None
        return cls(members)

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
        raw = self._raw.get(key)
        if raw is None:
            return None
        try:
            items = _ITEMS.decode(raw)
        except msgspec.ValidationError:  # not a list
            return None
        return (loads_exact(bytes(item)) for item in items)

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
