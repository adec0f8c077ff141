"""Input items of Responses clients (Codex) remembered between requests
(engine.translate.memo): a request translated with the memo is byte for
byte the one translated from scratch, whatever came before it, a resent
history is not parsed again, and no request changes what is remembered."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memohelpers import (
    ISSUERS,
    assert_errors_and_translations_both_come_up,
    assert_every_turn_fresh,
    assert_next_turn_parses_only_its_new_item,
    assert_tiny_memo_fresh,
    assert_unchanged,
    edits,
    envelope,
    outcome,
    rarely,
)
from memohelpers import shape as shape_as
from omniroute_mitm.engine.core.calls import dumps, parse_json
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.translate.memo import MessageMemo
from omniroute_mitm.translators import get_format

CLIENT = "openai-responses"
IDS = ["call_1", "call_2", "call_3"]  # few: calls and outputs meet, ids repeat

# ------------------------------------------------------------------ conversations

words = st.text(alphabet="ab \n", max_size=6)
ids = st.sampled_from(IDS)


_envelope = envelope


encrypted = st.one_of(
    st.sampled_from([None, "native-opaque"]),
    st.builds(_envelope, st.just("anthropic"), st.just("signature"), st.sampled_from(ISSUERS)),
    st.builds(_envelope, st.just("gemini"), st.just("thoughtSignature"),
              st.sampled_from([*ISSUERS, None])),
    st.builds(_envelope, st.just(CLIENT), st.just("encrypted_content"),
              st.sampled_from(ISSUERS)),
)  # fmt: skip


def _reasoning(text: str, secret: str | None) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    item: dict[str, Any] = {"type": "reasoning", "id": "rs_1", "summary": summary}
    if secret is not None:
        item["encrypted_content"] = secret
    return item


carrier = st.builds(
    lambda cid, by: {
        "type": "reasoning",
        "summary": [],
        "encrypted_content": _envelope(
            "gemini", "thoughtSignature", by, {CLIENT: {"call_id": cid}}
        ),
    },
    ids,
    st.sampled_from(ISSUERS),
)


content_parts = rarely(
    st.one_of(
        st.builds(lambda t: {"type": "input_text", "text": t}, words),
        st.builds(lambda t: {"type": "output_text", "text": t}, words),
        st.just({"type": "input_image", "image_url": "data:image/png;base64,aGk="}),
        st.just({"type": "input_file", "file_id": "file_1"}),
    ),
    st.sampled_from([{"type": "input_text", "text": 3}, {"type": "video"}, 7]),
)
message = st.builds(
    lambda role, content: {"type": "message", "role": role, "content": content},
    st.sampled_from(["user", "assistant", "user", "assistant", "developer", "system"]),
    st.one_of(words, st.lists(content_parts, max_size=3)),
)
output = rarely(
    words | st.lists(st.builds(lambda t: {"type": "input_text", "text": t}, words), max_size=2),
    st.just(5),
)
valid_items = st.one_of(
    message,
    st.builds(lambda role, t: {"role": role, "content": t},  # no type: a message
              st.sampled_from(["user", "assistant"]), words),
    st.builds(_reasoning, words, encrypted),
    carrier,
    st.builds(lambda i, n, a: {"type": "function_call", "call_id": i, "name": n, "arguments": a},
              ids, st.sampled_from(["shell", "read"]),
              st.sampled_from(["{}", '{"x":1}', {"y": 2}])),
    st.builds(lambda i, a: {"type": "custom_tool_call", "call_id": i, "name": "apply_patch",
                            "input": a, "id": "ctc_1"}, ids, words),
    st.builds(lambda i, o: {"type": "function_call_output", "call_id": i, "output": o},
              ids, output),
    st.builds(lambda i, o: {"type": "custom_tool_call_output", "call_id": i, "output": o},
              ids, output),
    st.just({"type": "additional_tools", "tools": [
        {"type": "function", "name": "extra", "parameters": {"type": "object"}},
        {"type": "function", "name": "shell", "parameters": {"type": "object"}}]}),
    st.just({"type": "web_search_call", "id": "ws_1", "status": "completed",
             "action": {"type": "search", "query": "q",
                        "sources": [{"type": "url", "url": "https://a.example"}]}}),
    st.just({"type": "local_shell_call_output", "call_id": "call_1", "output": "ok"}),
    st.just({"type": "item_reference", "id": "msg_1"}),
    st.just({"type": "mystery"}),  # unknown: an error for any other format
)  # fmt: skip
items = rarely(valid_items, st.sampled_from([
    "not an item", {"type": "message", "role": "robot", "content": "x"},
    {"type": "function_call", "call_id": "call_1"}, {"type": "function_call_output"},
    {"type": "message", "role": "user", "content": 3},
    {"type": "additional_tools", "tools": [{"name": "typeless"}]},
]))  # fmt: skip


def body(conversation: list[Any], last: str) -> bytes:
    return dumps({
        "model": "m", "stream": True, "store": False, "instructions": "sys",
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}},
                  {"type": "function", "name": "read", "parameters": {"type": "object"}},
                  {"type": "custom", "name": "apply_patch"}],
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "input": [*conversation, {"type": "message", "role": "user",
                                  "content": [{"type": "input_text", "text": last}]}],
    })  # fmt: skip


def shape(raw: bytes, target: str, issuer: str, memo: MessageMemo | None, partial: bool) -> Any:
    return shape_as(CLIENT, raw, target, issuer, memo, partial)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(items, max_size=8), edits(items), st.data())
def test_with_the_memo_every_turn_is_the_fresh_translation(start, steps, data):
    assert_every_turn_fresh(CLIENT, shape, body, start, steps, data)


@settings(max_examples=40, deadline=None)
@given(st.lists(items, min_size=1, max_size=6), st.integers(0, 5))
def test_a_tiny_memo_still_gives_the_fresh_translation(conversation, size):
    assert_tiny_memo_fresh(shape, body, conversation, size)


def test_errors_and_translations_both_come_up():
    """The property test's conversations are not all errors (nor all valid)."""
    assert_errors_and_translations_both_come_up(items, shape, body)


# ------------------------------------------------------------------------ hits


def codex_history(turns: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "env"}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix it."}]},
    ]
    for i in range(turns):
        call = f"call_{i}"
        out += [
            _reasoning("Let me look.", _envelope(CLIENT, "encrypted_content", "p1")),
            {"type": "function_call", "call_id": call, "name": "shell",
             "arguments": json.dumps({"command": ["cat", f"f{i}"]})},
            {"type": "function_call_output", "call_id": call, "output": "x = 1\n" * 20},
        ]  # fmt: skip
    return out


def test_the_next_turn_parses_only_its_new_item(monkeypatch):
    assert_next_turn_parses_only_its_new_item(monkeypatch, CLIENT, shape, body, codex_history(30))


def test_an_invalid_item_gets_its_error_with_its_index_after_a_hit():
    memo = MessageMemo()
    history = codex_history(3)
    shape(body(history, "turn 1"), "anthropic", "p1", memo, True)
    broken = [*history, {"type": "function_call_output", "output": "x"}]
    got = shape(body(broken, "turn 2"), "anthropic", "p1", memo, True)
    assert got == ("error", "input[11].call_id: a call_id is required", "input[11].call_id")


def test_a_tool_output_takes_the_name_of_the_call_as_it_is_now():
    memo = MessageMemo()
    call = {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{}"}
    result = {"type": "function_call_output", "call_id": "call_1", "output": "ok"}
    shape(body([call, result], "1"), "gemini", "p1", memo, False)
    raw = body([{**call, "name": "read"}, result], "2")
    got = shape(raw, "gemini", "p1", memo, False)
    assert outcome(got) == outcome(shape(raw, "gemini", "p1", None, False))
    assert b'"functionResponse":{"id":"call_1","name":"read"' in got.body
    # the canonical request too (a renderer may look the name up itself)
    client = get_format(CLIENT)
    top = TopLevel.split(raw)
    assert top is not None
    assert memo.parse_request(client, top, model=None, stream=None) == client.parse_request(
        parse_json(raw)
    )


def test_a_carried_signature_goes_only_with_the_carrier_still_sent():
    memo = MessageMemo()
    call = {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{}"}
    carried = {"type": "reasoning", "summary": [], "encrypted_content": _envelope(
        "gemini", "thoughtSignature", "p1", {CLIENT: {"call_id": "call_1"}})}  # fmt: skip
    result = {"type": "function_call_output", "call_id": "call_1", "output": "ok"}
    first = shape(body([call, carried, result], "1"), "gemini", "p1", memo, False)
    assert b'"thoughtSignature":"c2ln"' in first.body
    raw = body([call, result], "2")
    got = shape(raw, "gemini", "p1", memo, False)
    assert outcome(got) == outcome(shape(raw, "gemini", "p1", None, False))
    assert b'"thoughtSignature":"c2ln"' not in got.body
    assert_unchanged(memo)


def test_two_calls_carrying_one_signature_as_from_scratch():
    """Two calls of one id, each after a carrier of its signature: what the
    calls carry is the last carrier's (one dict for both, whose signature
    goes or stays for both); the remembered copies must not split them."""
    secret = envelope("gemini", "thoughtSignature", "p1", {CLIENT: {"call_id": "call_1"}})
    call = {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{}"}
    pair = [{"type": "reasoning", "summary": [], "encrypted_content": secret}, call]
    memo = MessageMemo()
    for n, conversation in enumerate([pair, pair + pair]):
        raw = body(conversation, f"turn {n}")
        fresh = outcome(shape(raw, "gemini", "p1", None, False))
        assert outcome(shape(raw, "gemini", "p1", memo, False)) == fresh
