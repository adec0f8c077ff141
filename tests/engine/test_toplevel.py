"""A long same-format body goes on as its bytes (engine.core.toplevel):
split at its top level, its signatures unwrapped in place. Whatever it
sends must be what the parsed path (parse, walk, encode) sends."""

from __future__ import annotations

import json
import random

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
    from omniroute_mitm.translators.provenance import _common_prefix

    rng = random.Random(7)
    base = bytes(rng.randrange(256) for _ in range(200_000))
    for at in [0, 1, 2, 65535, 65536, 65537, 131071, 199_999]:
        changed = base[:at] + bytes([base[at] ^ 1]) + base[at + 1 :]
        assert _common_prefix(base, changed) == at
    assert _common_prefix(base, base) == len(base)
    assert _common_prefix(base, base[:1000]) == 1000
    assert _common_prefix(b"", base) == 0
