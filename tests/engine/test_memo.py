"""Messages remembered between requests (engine.translate.memo): a request
translated with the memo is byte for byte the one translated from scratch,
whatever came before it, and a resent history is not parsed again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memohelpers import (
    assert_errors_and_translations_both_come_up,
    assert_every_turn_fresh,
    assert_next_turn_parses_only_its_new_item,
    assert_tiny_memo_fresh,
    edits,
    envelope,
    outcome,
    rarely,
)
from memohelpers import shape as shape_as
from omniroute_mitm.engine.core.calls import dumps, parse_json
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.translate import memo as memo_module
from omniroute_mitm.engine.translate.memo import MessageMemo
from omniroute_mitm.translators import get_format

TARGETS = ["openai-chat", "openai-responses", "gemini", "anthropic"]
ISSUERS = ["p1", "p2", "native"]
IDS = ["toolu_1", "toolu_2", "toolu_3"]  # few: calls and results meet, ids repeat

# ------------------------------------------------------------------ conversations

words = st.text(alphabet="ab \n", max_size=6)
ids = st.sampled_from(IDS)
cache = st.none() | st.just({"type": "ephemeral"})


_envelope = envelope


signatures = st.one_of(
    st.sampled_from([None, "native-sig"]),
    st.builds(_envelope, st.just("anthropic"), st.just("signature"), st.sampled_from(ISSUERS)),
    st.builds(_envelope, st.just("gemini"), st.just("thoughtSignature"),
              st.sampled_from([*ISSUERS, None])),
    st.builds(_envelope, st.just("openai-responses"), st.just("encrypted_content"),
              st.sampled_from(ISSUERS)),
)  # fmt: skip
carrier = st.builds(
    lambda tid, by: {
        "type": "thinking",
        "thinking": "",
        "signature": _envelope(
            "gemini", "thoughtSignature", by, {"anthropic": {"tool_use_id": tid}}
        ),
    },
    ids,
    st.sampled_from(ISSUERS),
)


def _thinking(text: str, signature: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "thinking", "thinking": text}
    if signature is not None:
        block["signature"] = signature
    return block


def _text(text: str, cc: Any) -> dict[str, Any]:
    return {"type": "text", "text": text} | ({"cache_control": cc} if cc else {})


tool_result_content = rarely(
    words | st.lists(st.builds(_text, words, cache), max_size=2), st.just(5)
)
valid_blocks = st.one_of(
    st.builds(_text, words, cache),
    st.builds(_thinking, words, signatures),
    carrier,
    st.just({"type": "redacted_thinking", "data": "r1"}),
    st.builds(lambda i, n, a: {"type": "tool_use", "id": i, "name": n, "input": a},
              ids, st.sampled_from(["Read", "Bash"]), st.sampled_from([{}, {"x": 1}])),
    st.builds(lambda i, c, e: {"type": "tool_result", "tool_use_id": i, "content": c,
                               "is_error": e}, ids, tool_result_content, st.booleans()),
    st.just({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "aGk="}}),
    st.just({"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}}),
    st.just({"type": "mystery"}),  # unknown: an error for any other format
)  # fmt: skip
blocks = rarely(valid_blocks, st.sampled_from([
    {"type": "text"}, {"text": "no type"}, {"type": "redacted_thinking", "data": 7},
    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": "bad"},
]))  # fmt: skip
messages = rarely(
    st.builds(
        lambda role, content: {"role": role, "content": content},
        st.sampled_from(["user", "assistant", "user", "assistant", "system"]),
        st.one_of(words, st.lists(blocks, max_size=4)),
    ),
    st.sampled_from([{"role": "robot", "content": "x"}, "not a message", {"role": "user"},
                     {"role": "user", "content": 3}]),
)  # fmt: skip


def body(conversation: list[Any], last: str) -> bytes:
    return dumps({
        "model": "m", "max_tokens": 100, "stream": True,
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Read", "input_schema": {"type": "object"}},
                  {"name": "Bash", "input_schema": {"type": "object"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "messages": [*conversation, {"role": "user", "content": last}],
    })  # fmt: skip


# ---------------------------------------------------------------------- edits


def shape(raw: bytes, target: str, issuer: str, memo: MessageMemo | None, partial: bool) -> Any:
    return shape_as("anthropic", raw, target, issuer, memo, partial)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, max_size=8), edits(messages), st.data())
def test_with_the_memo_every_turn_is_the_fresh_translation(start, steps, data):
    assert_every_turn_fresh("anthropic", shape, body, start, steps, data)


@settings(max_examples=40, deadline=None)
@given(st.lists(messages, min_size=1, max_size=6), st.integers(0, 5))
def test_a_tiny_memo_still_gives_the_fresh_translation(conversation, size):
    assert_tiny_memo_fresh(shape, body, conversation, size)


# ------------------------------------------------------------------------ hits


def agent_history(turns: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "user", "content": "Fix the bug."}]
    for i in range(turns):
        call = f"toolu_{i}"
        signature = _envelope("anthropic", "signature", "p1")
        out += [
            {"role": "assistant", "content": [
                _thinking("Let me look.", signature),
                {"type": "tool_use", "id": call, "name": "Read", "input": {"path": f"f{i}"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call, "content": "x = 1\n" * 20}]},
        ]  # fmt: skip
    return out


def test_the_next_turn_parses_only_its_new_message(monkeypatch):
    assert_next_turn_parses_only_its_new_item(
        monkeypatch, "anthropic", shape, body, agent_history(30)
    )


def test_the_memo_forgets_least_recently_used_messages_first():
    memo = MessageMemo(max_bytes=memo_module.WEIGHT * 400)
    for n in range(20):
        shape(body(agent_history(n % 4 + 1), f"turn {n}"), "gemini", "p1", memo, False)
        assert memo.held <= memo.max_bytes
    assert 0 < len(memo) < 20


@pytest.mark.parametrize("target", ["openai-chat", "gemini"])
def test_an_invalid_message_gets_its_error_with_its_index_after_a_hit(target):
    memo = MessageMemo()
    history = agent_history(3)
    shape(body(history, "turn 1"), target, "p1", memo, False)
    broken = [*history, {"role": "user", "content": [{"type": "text"}]}]
    got = shape(body(broken, "turn 2"), target, "p1", memo, False)
    assert got == ("error", "messages[7].content[0].text: text must be a string",
                   "messages[7].content[0].text")  # fmt: skip


def test_errors_and_translations_both_come_up():
    """The property test's conversations are not all errors (nor all valid)."""
    assert_errors_and_translations_both_come_up(messages, shape, body)


def test_a_tool_result_takes_the_name_of_the_call_as_it_is_now():
    memo = MessageMemo()
    call = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    result = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}  # fmt: skip
    before = [{"role": "assistant", "content": [call]}, result]
    after = [{"role": "assistant", "content": [{**call, "name": "Bash"}]}, result]
    shape(body(before, "1"), "gemini", "p1", memo, False)
    raw = body(after, "2")
    got = shape(raw, "gemini", "p1", memo, False)
    assert outcome(got) == outcome(shape(raw, "gemini", "p1", None, False))
    assert b'"functionResponse":{"id":"toolu_1","name":"Bash"' in got.body
    # the canonical request too (a renderer may look the name up itself)
    anthropic = get_format("anthropic")
    top = TopLevel.split(raw)
    assert top is not None
    remembered = memo.parse_request(anthropic, top, model=None, stream=None)
    assert remembered == anthropic.parse_request(parse_json(raw))


def test_a_carried_signature_goes_only_with_the_carrier_still_sent():
    memo = MessageMemo()
    carrier = {
        "type": "thinking",
        "thinking": "",
        "signature": _envelope(
            "gemini", "thoughtSignature", "p1", {"anthropic": {"tool_use_id": "toolu_1"}}
        ),
    }
    call = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    result = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}  # fmt: skip
    with_carrier = [
        {"role": "assistant", "content": [call]},
        result,
        {"role": "assistant", "content": [carrier, {"type": "text", "text": "a"}]},
    ]
    without = [*with_carrier[:2], {"role": "assistant", "content": [{"type": "text", "text": "a"}]}]
    first = shape(body(with_carrier, "1"), "gemini", "p1", memo, False)
    assert b'"thoughtSignature":"c2ln"' in first.body
    raw = body(without, "2")
    got = shape(raw, "gemini", "p1", memo, False)
    assert outcome(got) == outcome(shape(raw, "gemini", "p1", None, False))
    assert b'"thoughtSignature":"c2ln"' not in got.body


def test_a_next_turn_takes_the_history_it_shares_whole_without_a_lookup_each() -> None:
    """The elements a list shares whole with the last one of its
    conversation come from that list: only the new turn is looked up."""
    from collections import OrderedDict

    class Counting(OrderedDict):  # type: ignore[type-arg]
        looked = 0

        def get(self, key, default=None):  # type: ignore[no-untyped-def]
            Counting.looked += 1
            return super().get(key, default)

    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 40}
        for i in range(40)
    ]
    memo = MessageMemo()
    memo._entries = Counting()
    client = get_format("anthropic")
    turns = [
        json.dumps(
            {
                "model": "m",
                "max_tokens": 9,
                "messages": [*history, {"role": "user", "content": f"turn {n}"}],
            }
        ).encode()  # fmt: skip
        for n in range(3)
    ]
    for n, raw in enumerate(turns):
        Counting.looked = 0
        top = TopLevel.split(raw)
        assert top is not None
        request = memo.parse_request(client, top, model=None, stream=None)
        fresh = client.parse_request(json.loads(raw))
        assert request is not None and request.messages == fresh.messages
        assert Counting.looked == (41 if n == 0 else 1)  # then the new last message only
