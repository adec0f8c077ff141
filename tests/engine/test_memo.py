"""Messages remembered between requests (engine.translate.memo): a request
translated with the memo is byte for byte the one translated from scratch,
whatever came before it, and a resent history is not parsed again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omniroute_mitm.engine.core.calls import dumps, parse_json
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.translate import memo as memo_module
from omniroute_mitm.engine.translate.memo import MessageMemo
from omniroute_mitm.engine.translate.shaping import Asked, Shaped, shape_request
from omniroute_mitm.engine.translate.thinking import ThoughtCache
from omniroute_mitm.translators import get_format
from omniroute_mitm.translators.canonical import Text, TranslationError, counting_env, wrap_meta

TARGETS = ["openai-chat", "openai-responses", "gemini", "anthropic"]
ISSUERS = ["p1", "p2", "native"]
IDS = ["toolu_1", "toolu_2", "toolu_3"]  # few: calls and results meet, ids repeat

# ------------------------------------------------------------------ conversations

words = st.text(alphabet="ab \n", max_size=6)
ids = st.sampled_from(IDS)
cache = st.none() | st.just({"type": "ephemeral"})


def _envelope(fmt: str, key: str, by: str | None, extra: dict[str, Any] | None = None) -> str:
    entry: dict[str, Any] = {key: "c2ln"}
    if by is not None:
        entry["by"] = by
    return wrap_meta({fmt: entry, **(extra or {})})


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


def rarely(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> Any:
    """``common``, and one time in twenty ``rare`` (an invalid member: one in
    a conversation makes it all an error, so most must translate)."""
    return st.integers(0, 19).flatmap(lambda n: rare if n == 0 else common)


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

edits = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(messages, min_size=1, max_size=3)),
        st.tuples(st.just("change"), st.integers(0, 50), messages),
        st.tuples(st.just("swap"), st.integers(0, 50), st.integers(0, 50)),
        st.tuples(st.just("drop"), st.integers(0, 50)),
        st.tuples(st.just("same"), st.none()),
    ),
    min_size=1,
    max_size=4,
)


def edited(conversation: list[Any], edit: tuple[Any, ...]) -> list[Any]:
    out = list(conversation)
    kind = edit[0]
    if kind == "append":
        out += edit[1]
    elif out and kind == "change":
        out[edit[1] % len(out)] = edit[2]
    elif out and kind == "swap":
        i, j = edit[1] % len(out), edit[2] % len(out)
        out[i], out[j] = out[j], out[i]
    elif out and kind == "drop":
        del out[edit[1] % len(out)]
    return out


# ---------------------------------------------------------------- translating


def shape(raw: bytes, target: str, issuer: str, memo: MessageMemo | None, partial: bool) -> Any:
    """The Shaped request, or the error, as the engine gets them (a body
    split at its top level and not parsed, as the exchange hands it over)."""
    top = TopLevel.split(raw)
    asked = Asked(lambda: parse_json(raw), raw, None, None, True, top)
    try:
        return shape_request(
            get_format("anthropic"), get_format(target), asked, model="m2", cap=50,
            issuer=issuer, thoughts=ThoughtCache(), env=counting_env(), beta=None,
            partial=[Text("so far ")] if partial else None, memo=memo,
        )  # fmt: skip
    except TranslationError as exc:
        return ("error", str(exc), exc.path)


def outcome(shaped: Any) -> Any:
    if isinstance(shaped, Shaped):
        return (shaped.body, shaped.headers, shaped.input_tokens, shaped.custom_tools,
                shaped.warnings, shaped.trimmed, shaped.prefix)  # fmt: skip
    return shaped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, max_size=8), edits, st.data())
def test_with_the_memo_every_turn_is_the_fresh_translation(start, steps, data):
    memo = MessageMemo()
    conversation = start
    for n, step in enumerate([("same", None), *steps]):
        conversation = edited(conversation, step)
        raw = body(conversation, f"turn {n}")
        for target in TARGETS:
            # Anthropic to Anthropic is translated only for a continuation
            partial = target == "anthropic" or data.draw(st.booleans())
            issuer = data.draw(st.sampled_from(ISSUERS[:2]))
            fresh = outcome(shape(raw, target, issuer, None, partial))
            # twice: the second sees every message remembered, changed by nothing
            assert outcome(shape(raw, target, issuer, memo, partial)) == fresh
            assert outcome(shape(raw, target, issuer, memo, partial)) == fresh


@settings(max_examples=40, deadline=None)
@given(st.lists(messages, min_size=1, max_size=6), st.integers(0, 5))
def test_a_tiny_memo_still_gives_the_fresh_translation(conversation, size):
    memo = MessageMemo(max_bytes=size * 200)
    for n in range(3):
        raw = body(conversation, f"turn {n}")
        fresh = outcome(shape(raw, "gemini", "p1", None, False))
        assert outcome(shape(raw, "gemini", "p1", memo, False)) == fresh
    assert memo.held <= memo.max_bytes


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
    parsed: list[int] = []
    real = memo_module.PARSERS["anthropic"]

    def counting(raw: Any, i: int) -> Any:
        parsed.append(i)
        return real.parse(raw, i)

    monkeypatch.setitem(
        memo_module.PARSERS, "anthropic", memo_module.ItemParser(real.member, counting)
    )
    memo = MessageMemo()
    history = agent_history(30)
    first = shape(body(history, "turn 1"), "openai-chat", "p1", memo, False)
    assert len(parsed) == len(history) + 1
    parsed.clear()
    raw = body(history, "turn 2")
    second = shape(raw, "openai-chat", "p1", memo, False)
    assert parsed == [len(history)]  # the new last user message only
    assert outcome(second) == outcome(shape(raw, "openai-chat", "p1", None, False))
    assert json.loads(second.body)["messages"][:-1] == json.loads(first.body)["messages"][:-1]


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
    seen: set[bool] = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(st.lists(messages, max_size=8))
    def run(conversation):
        seen.add(isinstance(shape(body(conversation, "t"), "gemini", "p1", None, False), Shaped))

    run()
    assert seen == {True, False}


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
