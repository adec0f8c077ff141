"""Messages of OpenAI Chat clients (IDE assistants, aider, SDK apps)
remembered between requests (engine.translate.memo): a request translated
with the memo is byte for byte the one translated from scratch, whatever
came before it and whatever the thought cache holds, a resent history is
not parsed again, and no request changes what is remembered."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memohelpers import (
    assert_errors_and_translations_both_come_up,
    assert_every_turn_fresh,
    assert_tiny_memo_fresh,
    assert_unchanged,
    counting_parser,
    edits,
    outcome,
    rarely,
)
from memohelpers import shape as shape_as
from omniroute_mitm.engine.core.calls import dumps, parse_json
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.translate.memo import MessageMemo
from omniroute_mitm.engine.translate.thinking import Entry, ThoughtCache
from omniroute_mitm.translators import get_format
from omniroute_mitm.translators.canonical import Reasoning

CLIENT = "openai-chat"
IDS = ["call_1", "call_2", "call_3", "call_m1_0"]  # few: calls and results meet, ids repeat
NAMES = ["read", "shell"]

# ------------------------------------------------------------------ the thought cache


def thoughts() -> ThoughtCache:
    """What earlier answers left in the cache: signed thinking and call
    metadata from each provider format, issued by p1 or p2."""
    cache = ThoughtCache()
    signed = Reasoning("I read it.", {"anthropic": {"signature": "c2ln", "by": "p1"}})
    cache.put("call_1", Entry("anthropic", {}, [signed]))
    cache.put("call_2", Entry("gemini", {"gemini": {"thoughtSignature": "c2ln", "by": "p2"}}))
    encrypted = Reasoning("", {"openai-responses": {"encrypted_content": "ZW5j", "by": "p1"}})
    own = {"openai-responses": {"id": "fc_1"}}
    cache.put("call_3", Entry("openai-responses", own, [encrypted]))
    cache.put("call_m1_0", Entry("anthropic", {}, [signed]))  # (a call the client sent no id)
    return cache


# ------------------------------------------------------------------ conversations

words = st.text(alphabet="ab \n", max_size=6)
ids = st.sampled_from(IDS)
names = st.sampled_from(NAMES)
text_part = st.builds(lambda t: {"type": "text", "text": t}, words)
parts = rarely(
    st.one_of(
        text_part,
        st.builds(lambda t: {"type": "text", "text": t, "cache_control": {"type": "ephemeral"}},
                  words),
        st.just({"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}),
        st.just({"type": "image_url", "image_url": {"url": "https://a.example/x.jpg",
                                                    "detail": "low"}}),
        st.just({"type": "input_audio", "input_audio": {"data": "aGk=", "format": "wav"}}),
        st.just({"type": "file", "file": {"filename": "a.pdf", "file_data": "aGk="}}),
        st.just({"type": "file", "file": {"file_id": "file_1"}}),
    ),
    st.sampled_from([{"type": "text", "text": 3}, {"type": "video"}, 7]),
)  # fmt: skip
content = words | st.lists(parts, max_size=3)


def _assistant(text: Any, reasoning: Any, refusal: Any, calls: Any, legacy: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning is not None:
        message[reasoning[0]] = reasoning[1]
    if refusal is not None:
        message["refusal"] = refusal
    if calls is not None:
        message["tool_calls"] = calls
    if legacy is not None:
        message["function_call"] = legacy
    return message


def _call(call_id: str | None, name: str, arguments: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    return call if call_id is None else {"id": call_id, **call}


def _result(role: str, call_id: str | None, name: str | None, body: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "content": body}
    if call_id is not None:
        message["tool_call_id"] = call_id
    if name is not None:
        message["name"] = name
    return message


tool_call = st.one_of(
    st.builds(_call, ids | st.none(), names, st.sampled_from(["{}", '{"x":1}', {"y": 2}])),
    st.builds(lambda i, t: {"id": i, "type": "custom", "custom": {"name": "patch", "input": t}},
              ids, words),
)  # fmt: skip
valid_messages = st.one_of(
    st.builds(lambda role, c: {"role": role, "content": c},
              st.sampled_from(["system", "developer"]), words | st.lists(text_part, max_size=2)),
    st.builds(lambda c: {"role": "user", "content": c}, content),
    st.builds(
        _assistant,
        st.none() | words | st.lists(text_part, max_size=2),
        st.none() | st.tuples(st.sampled_from(["reasoning_content", "reasoning"]), words),
        st.none() | words,
        st.none() | st.lists(tool_call, max_size=2),
        st.none() | st.builds(lambda n: {"name": n, "arguments": "{}"}, names)
        | st.just({"name": "", "arguments": ""}),
    ),
    st.builds(_result, st.just("tool"), ids, st.none() | names,
              words | st.lists(text_part, max_size=2)),
    st.builds(_result, st.just("function"), st.none() | ids, names, words),
)  # fmt: skip
messages = rarely(valid_messages, st.sampled_from([
    "not a message", {"role": "robot", "content": "x"}, {"role": "tool", "content": "x"},
    {"role": "user", "content": 3}, {"role": "function", "name": "read", "content": 3},
    {"role": "system", "content": [{"type": "image_url", "image_url": "https://a.example/i.png"}]},
    {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function"}]},
]))  # fmt: skip


def body(conversation: list[Any], last: str) -> bytes:
    return dumps({
        "model": "m", "stream": True, "max_completion_tokens": 100,
        "reasoning_effort": "medium",
        "tools": [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                  for n in NAMES] + [{"type": "custom", "custom": {"name": "patch"}}],
        "messages": [*conversation, {"role": "user", "content": last}],
    })  # fmt: skip


def shape(
    raw: bytes,
    target: str,
    issuer: str,
    memo: MessageMemo | None,
    partial: bool,
    cache: ThoughtCache | None = None,
) -> Any:
    """Shaped with the thought cache ``cache``, else a new :func:`thoughts`."""
    cache = thoughts() if cache is None else cache
    return shape_as(CLIENT, raw, target, issuer, memo, partial, thoughts=cache)


# ---------------------------------------------------------------------- edits


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, max_size=8), edits(messages), st.data())
def test_with_the_memo_every_turn_is_the_fresh_translation(start, steps, data):
    assert_every_turn_fresh(CLIENT, shape, body, start, steps, data)


@settings(max_examples=40, deadline=None)
@given(st.lists(messages, min_size=1, max_size=6), st.integers(0, 5))
def test_a_tiny_memo_still_gives_the_fresh_translation(conversation, size):
    assert_tiny_memo_fresh(shape, body, conversation, size)


def test_errors_and_translations_both_come_up():
    """The property test's conversations are not all errors (nor all valid)."""
    assert_errors_and_translations_both_come_up(messages, shape, body)


# ------------------------------------------------------------------------ hits


def agent_history(turns: int) -> list[dict[str, Any]]:
    """An agent session as a Chat client sends it: system and developer
    messages, then tool calls (with the reasoning DeepSeek wants back) and
    their results."""
    out: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "developer", "content": [{"type": "text", "text": "env: linux"}]},
        {"role": "user", "content": "Fix the bug."},
    ]
    for i in range(turns):
        call = f"call_{i}"
        out += [
            {"role": "assistant", "content": None, "reasoning_content": "Let me look.",
             "tool_calls": [{"id": call, "type": "function", "function": {
                 "name": "read", "arguments": json.dumps({"path": f"f{i}"})}}]},
            {"role": "tool", "tool_call_id": call, "content": "x = 1\n" * 20},
        ]  # fmt: skip
    return out


def test_the_next_turn_parses_only_its_new_message(monkeypatch):
    """(To its own format a Chat request is passed through, never parsed:
    the next turn goes to Anthropic.)"""
    parsed = counting_parser(monkeypatch, CLIENT)
    history = agent_history(30)
    memo = MessageMemo()
    first = shape(body(history, "turn 1"), "anthropic", "p1", memo, False)
    assert len(parsed) == len(history) + 1
    parsed.clear()
    raw = body(history, "turn 2")
    second = shape(raw, "anthropic", "p1", memo, False)
    assert parsed == [len(history)]  # the new last message only
    assert outcome(second) == outcome(shape(raw, "anthropic", "p1", None, False))
    assert json.loads(second.body)["messages"][:-1] == json.loads(first.body)["messages"][:-1]


def test_an_invalid_message_gets_its_error_with_its_index_after_a_hit():
    memo = MessageMemo()
    history = agent_history(3)
    shape(body(history, "turn 1"), "anthropic", "p1", memo, False)
    broken = [*history, {"role": "tool", "content": "x"}]
    got = shape(body(broken, "turn 2"), "anthropic", "p1", memo, False)
    assert got == ("error", "messages[9].tool_call_id: required", "messages[9].tool_call_id")


def test_a_tool_result_takes_the_name_of_the_call_as_it_is_now():
    memo = MessageMemo()
    call = {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{}"}}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
    renamed = {**call, "function": {"name": "shell", "arguments": "{}"}}
    shape(body([{"role": "assistant", "tool_calls": [call]}, result], "1"), "gemini", "p1", memo,
          False)  # fmt: skip
    raw = body([{"role": "assistant", "tool_calls": [renamed]}, result], "2")
    got = shape(raw, "gemini", "p1", memo, False)
    assert outcome(got) == outcome(shape(raw, "gemini", "p1", None, False))
    assert b'"functionResponse":{"id":"call_1","name":"shell"' in got.body
    # the canonical request too (a renderer may look the name up itself)
    client = get_format(CLIENT)
    top = TopLevel.split(raw)
    assert top is not None
    remembered = memo.parse_request(client, top, model=None, stream=None)
    assert remembered == client.parse_request(parse_json(raw))


def test_thinking_restored_from_the_cache_follows_the_cache_as_it_is_now():
    """The calls a request gets its thinking back on are remembered messages:
    what the cache holds is read anew each turn, and the remembered call is
    never changed (its copy carries the metadata)."""
    memo = MessageMemo()
    history = agent_history(2)
    cache = ThoughtCache()
    first = shape(body(history, "1"), "anthropic", "p1", memo, False, cache)
    assert b"c2ln" not in first.body
    signed = Reasoning("I read it.", {"anthropic": {"signature": "c2ln", "by": "p1"}})
    cache.put("call_1", Entry("anthropic", {}, [signed]))
    raw = body(history, "2")
    got = shape(raw, "anthropic", "p1", memo, False, cache)
    assert outcome(got) == outcome(shape(raw, "anthropic", "p1", None, False, cache))
    sent = json.loads(got.body)["messages"]
    assert sent[3]["content"][0] == {"type": "thinking", "thinking": "I read it.",
                                     "signature": "c2ln"}  # fmt: skip
    assert b"c2ln" not in shape(raw, "anthropic", "p1", memo, False, ThoughtCache()).body
    assert_unchanged(memo)


def test_a_call_signature_from_the_cache_goes_only_to_its_issuer():
    memo = MessageMemo()
    history = agent_history(2)
    cache = ThoughtCache()
    cache.put("call_0", Entry("gemini", {"gemini": {"thoughtSignature": "c2ln", "by": "p1"}}))
    raw = body(history, "1")
    mine = shape(raw, "gemini", "p1", memo, False, cache)
    other = shape(raw, "gemini", "p2", memo, False, cache)
    assert b'"thoughtSignature":"c2ln"' in mine.body
    assert b"c2ln" not in other.body
    assert outcome(other) == outcome(shape(raw, "gemini", "p2", None, False, cache))
    assert_unchanged(memo)


def test_a_remembered_developer_message_is_the_system_prompt_only_while_it_leads():
    memo = MessageMemo()
    developer = {"role": "developer", "content": "be brief"}
    leading = [{"role": "system", "content": "sys"}, developer]
    shape(body(leading, "1"), "anthropic", "p1", memo, False)
    raw = body([{"role": "user", "content": "hi"}, developer], "2")
    got = shape(raw, "openai-chat", "p1", memo, True)
    assert outcome(got) == outcome(shape(raw, "openai-chat", "p1", None, True))
    sent = json.loads(got.body)["messages"]
    assert sent[:2] == [{"role": "user", "content": "hi"},
                        {"role": "developer", "content": "be brief"}]  # fmt: skip
    assert_unchanged(memo)


def test_legacy_function_messages_take_their_calls_ids_every_turn():
    memo = MessageMemo()
    conversation = [
        {"role": "assistant", "content": None,
         "function_call": {"name": "read", "arguments": "{}"}},
        {"role": "function", "name": "read", "content": "one"},
        {"role": "assistant", "content": None,
         "function_call": {"name": "read", "arguments": "{}"}},
        {"role": "function", "name": "read", "content": "two"},
    ]  # fmt: skip
    for n in range(2):
        raw = body(conversation, str(n))
        got = shape(raw, "anthropic", "p1", memo, False)
        assert outcome(got) == outcome(shape(raw, "anthropic", "p1", None, False))
        sent = json.loads(got.body)["messages"]
        assert [m["content"][0]["tool_use_id"] for m in sent[1:4:2]] == [
            "call_m0_fn",
            "call_m2_fn",
        ]
    unanswered = [{"role": "function", "name": "read", "content": 3}]
    got = shape(body(unanswered, "3"), "anthropic", "p1", memo, False)
    assert got[0] == "error" and got[2] == "messages[0].role"  # before its content's error


def test_restored_thinking_is_the_same_whatever_requests_restored_it_before():
    """The thought cache hands the same restored parts to each request that
    resends a call (shared like remembered messages): no request changes
    them, whichever issuer or target came before."""
    memo = MessageMemo()
    shared = thoughts()
    history = agent_history(1)
    history[3:3] = [
        {"role": "assistant", "content": "a", "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": "read", "arguments": "{}"}}
            for cid in IDS]},
        *({"role": "tool", "tool_call_id": cid, "content": "ok"} for cid in IDS),
    ]  # fmt: skip
    for n, issuer in enumerate(["p1", "p2", "p1", "native", "p2"]):
        raw = body(history, str(n))
        for target in ["anthropic", "gemini", "openai-responses"]:
            for remembered in (memo, None):
                got = shape(raw, target, issuer, remembered, False, shared)
                assert outcome(got) == outcome(shape(raw, target, issuer, None, False)), target
    assert_unchanged(memo)
