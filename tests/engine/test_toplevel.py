"""A long same-format body goes on as its bytes (engine.core.toplevel):
split at its top level, its signatures unwrapped in place. Whatever it
sends must be what the parsed path (parse, walk, encode) sends."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omniroute_mitm.engine.core.calls import parse_json
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.route.affinity import conversation_id
from omniroute_mitm.engine.translate.responses import stateless
from omniroute_mitm.engine.translate.shaping import Asked, passthrough_body
from omniroute_mitm.translators.canonical import wrap_meta
from omniroute_mitm.translators.provenance import NATIVE, unwrap_bytes
from omniroute_mitm.translators.resent import Resent

KEYS = {
    "anthropic": "signature",
    "gemini": "thoughtSignature",
    "openai-responses": "encrypted_content",
}


def envelope(fmt: str, raw: str, by: str) -> str:
    return wrap_meta({fmt: {KEYS[fmt]: raw, "by": by}})


def anthropic_body(signatures: list[str], **top: object) -> dict:
    messages: list[dict] = [{"role": "user", "content": "fix the parser"}]
    for i, sig in enumerate(signatures):
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": f"step {i} \u00e9\u4e2d", "signature": sig},
            {"type": "tool_use", "id": f"t{i}", "name": "Read", "input": {"path": f"f{i}.py"}},
        ]})  # fmt: skip
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"t{i}", "content": "x = 1\n" * 5},
        ]})  # fmt: skip
    return {"model": "claude-sonnet-4-5", "max_tokens": 64000, "system": "be brief",
            "messages": messages, "tools": [{"name": "Read", "input_schema": {}}],
            "metadata": {"user_id": "user_1_account__session_abc-123"},
            "thinking": {"type": "enabled", "budget_tokens": 1000},
            "stream": True, **top}  # fmt: skip


def both(fmt: str, raw: bytes, model: str, cap: int | None, issuer: str) -> tuple[bytes, bytes]:
    """(the split path's body, the parsed path's body)."""
    top = TopLevel.split(raw)
    assert top is not None
    split = passthrough_body(fmt, Asked(_unparsed, raw, None, None, True, top), model, cap, issuer)
    parsed = passthrough_body(
        fmt, Asked(parse_json(raw), raw, None, None, True), model, cap, issuer
    )
    return split, parsed


def _unparsed() -> dict:
    raise AssertionError("the split path parsed the body")


def test_own_signatures_are_unwrapped_in_place_and_nothing_else_moves() -> None:
    raws = [f"RAW{i}sig+/==" for i in range(5)]
    body = anthropic_body([envelope("anthropic", r, "prov") for r in raws])
    raw = json.dumps(body, ensure_ascii=False).encode()
    split, parsed = both("anthropic", raw, "claude-sonnet-4-5", None, "prov")
    assert json.loads(split) == json.loads(parsed) == anthropic_body(raws)
    # the members' values keep their bytes (the client's spacing included)
    assert b'{"role": "user", "content": "fix the parser"}' in split
    assert b'"thinking":{"type": "enabled", "budget_tokens": 1000}' in split


def test_a_renamed_model_and_a_cap_are_the_only_members_encoded_again() -> None:
    body = anthropic_body([envelope("anthropic", "R", "prov")])
    raw = json.dumps(body).encode()
    split, parsed = both("anthropic", raw, "upstream-model", 1000, "prov")
    out = json.loads(split)
    assert out == json.loads(parsed)
    assert (out["model"], out["max_tokens"]) == ("upstream-model", 1000)
    assert list(out) == list(body)  # the client's member order


def test_nothing_to_change_sends_the_clients_own_bytes() -> None:
    raw = json.dumps(anthropic_body([])).encode()
    top = TopLevel.split(raw)
    asked = Asked(_unparsed, raw, None, None, True, top)
    assert passthrough_body("anthropic", asked, "claude-sonnet-4-5", None, "prov") is raw


@pytest.mark.parametrize(
    "signature",
    [
        "NATIVEsig",  # the vendor's own: another target drops the block
        wrap_meta({"anthropic": {"signature": "R", "by": "other"}}),  # another provider's
        wrap_meta({"gemini": {"thoughtSignature": "G", "by": "prov"}}),  # a carrier
    ],
)
def test_a_signature_to_drop_takes_the_parsed_path(signature: str) -> None:
    body = anthropic_body([envelope("anthropic", "R", "prov"), signature])
    data = json.dumps(body).encode()
    assert unwrap_bytes("anthropic", "prov", data) is None
    top = TopLevel.split(data)
    assert top is not None
    out = passthrough_body("anthropic", Asked(lambda: parse_json(data), data, None, None, True,
                                              top), "claude-sonnet-4-5", None, "prov")  # fmt: skip
    kinds = [b["type"] for m in json.loads(out)["messages"][1:] for b in m["content"]]
    assert kinds.count("thinking") == 1  # the other issuer's block is gone, ours kept


def test_the_bytes_never_vouch_for_what_they_cannot_see() -> None:
    own = envelope("anthropic", "R", "prov")
    redacted = {"role": "assistant", "content": [{"type": "redacted_thinking", "data": own}]}
    body = anthropic_body([own])
    body["messages"].append(redacted)
    assert unwrap_bytes("anthropic", "prov", json.dumps(body).encode()) is None
    escaped = (
        json.dumps(anthropic_body([own]))
        .encode()
        .replace(own.encode(), b"\\u0041" + own[1:].encode())
    )
    assert unwrap_bytes("anthropic", "prov", escaped) is None
    # the word in text is no signature; a native body to the native destination stays as is
    text = json.dumps(anthropic_body(["S"]) | {"system": 'write "signature": "x"'}).encode()
    assert unwrap_bytes("anthropic", NATIVE, text) is text


def test_gemini_keeps_the_placeholder_and_unwraps_its_own() -> None:
    dummy = "skip_thought_signature_validator"
    contents = [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}},
                                     "thoughtSignature": envelope("gemini", "G1", "prov")}]},
        {"role": "model", "parts": [{"functionCall": {"name": "g", "args": {}},
                                     "thoughtSignature": dummy}]},
    ]  # fmt: skip
    raw = json.dumps({"contents": contents, "generationConfig": {"maxOutputTokens": 99}}).encode()
    top = TopLevel.split(raw)
    assert top is not None
    asked = Asked(_unparsed, raw, "gemini-2.5-pro", True, True, top)
    out = json.loads(passthrough_body("gemini", asked, "gemini-2.5-pro", None, "prov"))
    sigs = [p["thoughtSignature"] for c in out["contents"][1:] for p in c["parts"]]
    assert sigs == ["G1", dummy]


def test_what_is_not_a_json_object_of_utf8_is_left_to_the_parse() -> None:
    for bad in (b"[1]", b'{"a":1', b'{"a":"\xff"}', b'{"a":NaN}', b'{"a":"\\ud800"}', b""):
        assert TopLevel.split(bad) is None


def test_members_decode_exactly_and_once() -> None:
    top = TopLevel.split(b'{"n": 1180591620717411303424, "m": [{"role": "user"}, 2]}')
    assert top is not None
    assert top["n"] == 2**70 and top["m"] is top["m"]
    assert list(top.items_of("m") or []) == [{"role": "user"}, 2]
    assert top.items_of("n") is None and "x" not in top and top.get("x") is None


def test_the_session_hash_is_the_same_split_or_parsed() -> None:
    body = anthropic_body(["S"]) | {"metadata": {}}
    raw = json.dumps(body).encode()
    top = TopLevel.split(raw)
    assert top is not None
    assert conversation_id("anthropic", [], top) == conversation_id("anthropic", [], body)
    chat = {"model": "m", "messages": [{"role": "system", "content": "s"},
                                       {"role": "user", "content": "u"}]}  # fmt: skip
    ctop = TopLevel.split(json.dumps(chat).encode())
    assert ctop is not None
    assert conversation_id("openai-chat", [], ctop) == conversation_id("openai-chat", [], chat)


def test_only_a_stateless_responses_request_goes_on_as_bytes() -> None:
    base = {"model": "gpt-5", "input": [{"role": "user", "content": "hi"}], "store": False}
    for body, expected in [
        (base, True),
        (base | {"store": True}, False),
        ({k: v for k, v in base.items() if k != "store"}, False),
        (base | {"previous_response_id": "resp_1"}, False),
        (base | {"conversation": "conv_1"}, False),
        (base | {"input": [{"type": "compaction", "encrypted_content": "x"}]}, False),
    ]:
        raw = json.dumps(body).encode()
        top = TopLevel.split(raw)
        assert top is not None
        assert stateless(top, raw) is expected, body
    raw = json.dumps(base).encode()
    top = TopLevel.split(raw)
    assert top is not None and not stateless(top, raw, compact=True)


@settings(max_examples=60, deadline=None)
@given(
    issuers=st.lists(st.sampled_from(["prov", "other", NATIVE, "carrier"]), max_size=6),
    target=st.sampled_from(["prov", NATIVE]),
    fmt=st.sampled_from(["anthropic", "openai-responses"]),
    seed=st.integers(0, 1000),
)
def test_the_split_path_sends_what_the_parsed_path_sends(
    issuers: list[str], target: str, fmt: str, seed: int
) -> None:
    rng = random.Random(seed)

    def signature(by: str) -> str:
        raw = "".join(rng.choice("ABCxyz019+/") for _ in range(rng.randint(1, 40)))
        if by == NATIVE:
            return raw
        if by == "carrier":
            return wrap_meta({"gemini": {"thoughtSignature": raw, "by": "prov"}})
        return envelope(fmt, raw, by)

    if fmt == "anthropic":
        body = anthropic_body([signature(by) for by in issuers])
    else:
        items: list[dict] = [{"role": "user", "content": "hi"}]
        for i, by in enumerate(issuers):
            items.append({"type": "reasoning", "id": f"rs_{i}", "summary": [],
                          "encrypted_content": signature(by)})  # fmt: skip
            items.append({"type": "function_call", "call_id": f"c{i}", "name": "f",
                          "arguments": "{}"})  # fmt: skip
        body = {"model": "gpt-5", "input": items, "store": False, "stream": True}
    raw = json.dumps(body, indent=rng.choice([None, 1])).encode()
    top = TopLevel.split(raw)
    assert top is not None
    parsed = passthrough_body(fmt, Asked(parse_json(raw), raw, None, None, True), "m", 10, target)
    split = passthrough_body(fmt, Asked(lambda: parse_json(raw), raw, None, None, True, top),
                             "m", 10, target)  # fmt: skip
    assert json.loads(split) == json.loads(parsed)


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")], ids=["compact", "spaced"])
def test_a_resent_history_unwraps_the_same_from_memory(separators: tuple[str, str]) -> None:
    """Each turn resends the earlier turns' signatures: the second pass reads
    them from memory and must write what the first wrote, for that target
    only, and still refuse what it never vouched for."""
    own = [envelope("anthropic", f"R{i}", "prov") for i in range(3)]
    data = json.dumps(anthropic_body(own), separators=separators).encode()
    first = unwrap_bytes("anthropic", "prov", data)
    assert first is not None and b"AG9tcj" not in first
    assert [b["signature"] for m in json.loads(first)["messages"][1:] for b in m["content"]
            if b["type"] == "thinking"] == ["R0", "R1", "R2"]  # fmt: skip
    assert unwrap_bytes("anthropic", "prov", data) == first
    assert unwrap_bytes("anthropic", "elsewhere", data) is None  # not its signatures
    foreign = envelope("anthropic", "X", "other")
    mixed = json.dumps(anthropic_body([*own, foreign]), separators=separators).encode()
    assert unwrap_bytes("anthropic", "prov", mixed) is None


def test_a_resent_conversation_is_unwrapped_as_if_scanned_afresh() -> None:
    """The next turn resends the conversation with changes (a moved cache
    mark, new turns, a block to drop): taking the last scan up to where
    they begin gives what a fresh scan gives."""
    from omniroute_mitm.translators import provenance

    def messages(body: dict) -> bytes:
        return json.dumps(body["messages"]).encode()

    own = [envelope("anthropic", f"R{i}", "prov") for i in range(6)]
    first = anthropic_body(own[:4])
    later = [
        first,  # the same again
        anthropic_body(own),  # two turns more
        anthropic_body(own[:2] + ["NATIVEsig"] + own[3:]),  # a block to drop in the middle
        anthropic_body(own[:3] + [envelope("anthropic", "R9", "other")]),  # another issuer's
        anthropic_body(own[:2]),  # shorter
    ]
    edited = anthropic_body(own)
    edited["messages"][3]["content"][0]["cache_control"] = {"type": "ephemeral"}
    later.append(edited)
    redacted = anthropic_body(own)
    redacted["messages"].append({"role": "assistant", "content": [
        {"type": "redacted_thinking", "data": own[0]}]})  # fmt: skip
    later.append(redacted)
    for body in later:
        provenance._SCANS.clear()
        provenance.unwrap_bytes("anthropic", "prov", messages(first))  # the turn before
        taken_up = provenance.unwrap_bytes("anthropic", "prov", messages(body))
        assert len(provenance._SCANS) == (taken_up is not None)  # the last scan was taken up
        provenance._SCANS.clear()
        assert taken_up == provenance.unwrap_bytes("anthropic", "prov", messages(body))
    provenance._SCANS.clear()
    data = messages(anthropic_body(own))
    assert provenance.unwrap_bytes("anthropic", "prov", data) == provenance.unwrap_bytes(
        "anthropic", "prov", data
    )
    assert (
        json.loads(provenance.unwrap_bytes("anthropic", "prov", data) or b"")
        == (anthropic_body([f"R{i}" for i in range(6)])["messages"])
    )


def test_the_common_prefix_is_found_at_every_length() -> None:
    from omniroute_mitm.translators.resent import common_prefix

    rng = random.Random(7)
    base = bytes(rng.randrange(256) for _ in range(200_000))
    for at in [0, 1, 2, 65535, 65536, 65537, 131071, 199_999]:
        changed = base[:at] + bytes([base[at] ^ 1]) + base[at + 1 :]
        assert common_prefix(base, changed) == at
    assert common_prefix(base, base) == len(base)
    assert common_prefix(base, base[:1000]) == 1000
    assert common_prefix(b"", base) == 0


# ------------------------------------------------- the next turn of a conversation


def fresh_split(body: bytes) -> list[tuple[str, bytes]] | None:
    """What a split of ``body`` alone gives: its members, in order, as bytes."""
    import msgspec

    try:
        members = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
        body.decode("utf-8")
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None
    return [(key, bytes(raw)) for key, raw in members.items()]


def members_of(top: TopLevel | None) -> list[tuple[str, bytes]] | None:
    return None if top is None else [(key, top.raw(key) or b"") for key in top]


_KEYS = ["model", "messages", "system", 'we"ird', "caf\u00e9", "tab\tkey", "max_tokens"]
_TEXT = st.text(alphabet=st.sampled_from('ab \u00e9\u4e2d"\\\n{}[],:0'), max_size=12)
_ELEMENT = st.one_of(
    st.integers(-50, 10**20),
    _TEXT,
    st.booleans(),
    st.none(),
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": _TEXT}),
    st.lists(st.integers(0, 9), max_size=3),
)


class Conversation:
    """A body a client resends with edits: members in its own order and
    spacing, the ``messages`` list growing, a cache mark moving."""

    def __init__(self, data: st.DataObject) -> None:
        draw = data.draw
        self.draw = draw
        self.members: list[tuple[str, Any]] = [("model", draw(_TEXT))]
        self.members += [(key, draw(_ELEMENT)) for key in draw(st.lists(st.sampled_from(_KEYS)))]
        self.messages: list[Any] = draw(st.lists(_ELEMENT, max_size=6))
        self.members.insert(draw(st.integers(1, len(self.members))), ("messages", self.messages))
        if draw(st.booleans()):  # a duplicate key: its last value counts
            self.members.append(("messages", list(self.messages)))
        self.comma = draw(st.sampled_from([",", ", ", " ,\n  ", ",\t"]))
        self.colon = draw(st.sampled_from([":", ": ", " :\r\n"]))
        self.ascii = draw(st.booleans())

    def dumps(self, value: Any) -> str:
        return json.dumps(value, separators=(self.comma, self.colon), ensure_ascii=self.ascii)

    def body(self) -> bytes:
        inner = self.comma.join(self.dumps(k) + self.colon + self.dumps(v) for k, v in self.members)
        return ("{" + inner + "}").encode()

    def edit(self) -> bytes:
        """The next body: an edit a client makes, or bytes no client sends."""
        draw, messages = self.draw, self.messages
        kinds = ["turn", "mark", "shrink", "grow", "member", "bytes", "same"]
        kind = draw(st.sampled_from(kinds))
        if kind == "grow" and messages:  # the last element longer: 2 -> 2.5, "ab" -> "abc"
            messages[-1] = _grown(messages[-1], draw(st.sampled_from(["0", ".5", "e3", "x"])))
        elif kind == "turn":
            messages += draw(st.lists(_ELEMENT, min_size=1, max_size=3))
        elif kind == "mark" and messages:  # Claude Code's cache mark on the newest message
            for m in messages:
                if isinstance(m, dict):
                    m.pop("cache_control", None)
            messages.append({"role": "user", "content": "next", "cache_control": {"t": "e"}})
        elif kind == "shrink":
            del messages[draw(st.integers(0, len(messages))) :]
        elif kind == "member":
            at = draw(st.integers(0, len(self.members) - 1))
            if self.members[at][0] != "messages":
                self.members[at] = (self.members[at][0], draw(_ELEMENT))
        body = self.body()
        if kind != "bytes":
            return body
        at = draw(st.integers(0, len(body)))
        cut = draw(st.integers(at, min(at + 3, len(body))))
        return body[:at] + draw(st.binary(max_size=3) | _TEXT.map(str.encode)) + body[cut:]


def _grown(value: Any, more: str) -> Any:
    if isinstance(value, bool) or value is None:
        return [value]
    if isinstance(value, int):
        return value * 10 if more in "0x" else float(f"{value}{more}")  # (its digits first)
    if isinstance(value, str):
        return value + more
    if isinstance(value, list):
        return [*value, len(more)]
    if isinstance(value, dict):
        return {**value, more: more}
    return value * 2


@settings(max_examples=300, deadline=None)
@given(data=st.data(), head=st.integers(1, 40), items=st.booleans())
def test_a_split_that_follows_the_last_turn_is_a_fresh_split(
    data: st.DataObject, head: int, items: bool
) -> None:
    """Two conversations edited turn after turn, interleaved (their openings
    may be alike): each split, taken from the one before where it can be,
    is what a split of the body alone gives, invalid bodies included."""
    from unittest import mock

    from omniroute_mitm.engine.core import toplevel

    conversations = [Conversation(data), Conversation(data)]
    with (
        mock.patch.object(toplevel, "_LONG", 0),
        mock.patch.object(toplevel, "_SPLITS", Resent(head=head)),
    ):
        toplevel._SPLITS.clear()
        for _ in range(data.draw(st.integers(1, 12))):
            body = conversations[data.draw(st.integers(0, 1))].edit()
            top = TopLevel.split(body)
            assert members_of(top) == fresh_split(body), body
            if top is not None and items and "messages" in top:
                found = top.items_of("messages")
                expected = json.loads(body)["messages"]
                assert (None if found is None else list(found)) == (
                    expected if isinstance(expected, list) else None
                )
    toplevel._SPLITS.clear()


def long_turns(count: int) -> list[bytes]:
    """A Claude Code conversation turn after turn: its history resent, two
    messages more each turn, the cache mark moved to the newest."""
    body = anthropic_body([envelope("anthropic", f"R{i}", "prov") for i in range(300)])
    bodies = []
    for turn in range(count):
        for m in body["messages"]:
            if isinstance(m["content"], list):
                m["content"][-1].pop("cache_control", None)
        body["messages"] += [
            {"role": "assistant", "content": [{"type": "text", "text": f"done {turn}"}]},
            {"role": "user", "content": [{"type": "text", "text": f"now step {turn}",
                                          "cache_control": {"type": "ephemeral"}}]},
        ]  # fmt: skip
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


@pytest.mark.parametrize("read", [False, True], ids=["split", "turns-read"])
def test_the_next_turn_is_checked_only_where_it_is_new(
    read: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turn 3 decodes the messages from the one where the cache mark was,
    not the conversation again; what it finds is what a fresh split finds.
    When the turns were read (the session hash of a client that sends no
    session), already turn 2."""
    import msgspec
    from omniroute_mitm.engine.core import toplevel

    decoded: list[int] = []

    class Spy:
        def __init__(self, decoder: Any) -> None:
            self.decoder = decoder

        def decode(self, data: Any) -> Any:
            decoded.append(len(data))
            return self.decoder.decode(data)

    monkeypatch.setattr(toplevel, "_SPLITS", Resent())
    monkeypatch.setattr(toplevel, "_MEMBERS", Spy(toplevel._MEMBERS))
    monkeypatch.setattr(toplevel, "_NESTED", Spy(toplevel._NESTED))
    bodies = long_turns(4)
    assert len(bodies[0]) > toplevel._LONG
    for turn, body in enumerate(bodies):
        decoded.clear()
        top = TopLevel.split(body)
        assert top is not None and members_of(top) == fresh_split(body)
        if read:
            assert list(top.items_of("messages") or []) == json.loads(body)["messages"]
        if turn >= (1 if read else 2):
            last = json.dumps(json.loads(body)["messages"][-3:], separators=(",", ":"))
            assert sum(decoded) < len(last) + 10, turn  # the last three messages only
        else:
            assert sum(decoded) > len(body) * 0.9  # the first two: all of it
    assert (
        msgspec.json.decode(TopLevel.split(bodies[-1]).raw("messages") or b"")
        == (json.loads(bodies[-1])["messages"])
    )


def test_a_broken_turn_is_refused_and_the_next_one_still_follows() -> None:
    from omniroute_mitm.engine.core import toplevel

    toplevel._SPLITS.clear()
    first, second, third = long_turns(3)
    assert TopLevel.split(first) is not None and TopLevel.split(second) is not None
    at = third.rindex(b"now step")
    for broken in (third[:at] + b"\xff" + third[at + 1 :], third[:at] + b'"' + third[at:]):
        assert TopLevel.split(broken) is None
    assert members_of(TopLevel.split(third)) == fresh_split(third)
    assert len(toplevel._SPLITS) == 1
    toplevel._SPLITS.clear()


@pytest.mark.parametrize(
    "turns",
    [
        [b'{"m":[1,2],"n":3}', b'{"m":[1,2.5],"n":3}', b'{"m":[1,2.5,4],"n":3}'],  # a number grows
        [b'{"m":[1,2],"n":3}', b'{"m":[1,2e3],"n":3}', b'{"m":[1,2e3],"n":3}'],
        [b'{"m":[1,2],"t":2}', b'{"m":[1],"x":[2],"t":2}'],  # one member becomes two
        [b'{"m":[1,2],"t":2}', b'{"m":[1,2] ,"t":2}', b'{"m":[1,2]]}'],  # not in the list
        [b'{"m" : [ 1 , 2 ] }', b'{"m" : [ 1 , 2 , {"a":"\\u00e9"} ] }', b'{"m" : [ 1 ] }'],
        [b'{"\\u006d":[1],"m":[1]}', b'{"\\u006d":[1,2],"m":[1]}'],  # a duplicate key
        [b'{"m":["a"]}', b'{"m":["a","\xc3\xa9"]}', b'{"m":["a","\xc3"]}', b'{"m":["a","b"]}'],
    ],
)
def test_edge_turns_split_as_fresh(turns: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    from omniroute_mitm.engine.core import toplevel

    monkeypatch.setattr(toplevel, "_LONG", 0)
    monkeypatch.setattr(toplevel, "_SPLITS", Resent(head=3))
    for body in turns:
        top = TopLevel.split(body)
        assert members_of(top) == fresh_split(body), body
        if top is not None:
            items = top.items_of("m")
            expected = json.loads(body)["m"]
            assert (None if items is None else list(items)) == expected, body


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3000),
            st.sampled_from(
                [b"", b"x", b"compaction", b"compact", b"action", b'"compaction_trigger"']
            ),
        ),
        max_size=12,
    )
)
@settings(max_examples=150, deadline=None)
def test_a_compaction_is_seen_in_a_next_turn_wherever_it_lands(edits):
    """A Responses body that continues one found clean is searched only from
    where the two differ: still exactly ``b"compaction" in body``, also for
    a word that straddles the point where the bodies part."""
    from omniroute_mitm.engine.translate.responses.conversation import _mentions_compaction

    body = b'{"input":[' + b'{"type":"message","content":"compac tion"},' * 40 + b"]}"
    for at, text in edits:
        at = min(at, len(body))
        body = body[:at] + text + body[at:]
        assert _mentions_compaction(body) == (b"compaction" in body)
        if b"compaction" in body:  # (a compacted conversation: start over)
            body = body.replace(b"compaction", b"compact-ion")


def test_a_word_completed_by_the_next_turn_is_seen():
    from omniroute_mitm.engine.translate.responses.conversation import _mentions_compaction

    first = b'{"input":["' + b"a" * 600 + b'compac"]}'
    assert not _mentions_compaction(first)
    second = first[:-3] + b'tion"]}'  # "compac" + "tion": straddles where they part
    assert _mentions_compaction(second)
