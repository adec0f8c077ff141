"""Contents of Gemini clients (Gemini CLI) remembered between requests
(engine.translate.memo): a request translated with the memo is byte for
byte the one translated from scratch, whatever came before it, a resent
history is not parsed again, and no request changes what is remembered."""

from __future__ import annotations

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
from omniroute_mitm.translators.gemini.common import REASONING_KEY

CLIENT = "gemini"
IDS = ["c1", "c2", None]  # few: calls and responses meet; None: Gemini gave no id
NAMES = ["read_file", "run_shell"]

# ------------------------------------------------------------------ conversations

words = st.text(alphabet="ab \n", max_size=6)


_envelope = envelope


signatures = st.one_of(
    st.sampled_from([None, "native-sig", "skip_thought_signature_validator"]),
    st.builds(_envelope, st.just("anthropic"), st.just("signature"), st.sampled_from(ISSUERS)),
    st.builds(_envelope, st.just("openai-responses"), st.just("encrypted_content"),
              st.sampled_from(ISSUERS)),
    st.builds(lambda by: _envelope("gemini", "thoughtSignature", by, {REASONING_KEY: {
        "parts": [{"text": "carried", "meta": {"anthropic": {"signature": "s", "by": by}}}]}}),
        st.sampled_from(ISSUERS)),
)  # fmt: skip


def _signed(part: dict[str, Any], sig: str | None) -> dict[str, Any]:
    return part if sig is None else {**part, "thoughtSignature": sig}


def _call(cid: str | None, name: str, args: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"name": name, "args": args}
    if cid is not None:
        call["id"] = cid
    return {"functionCall": call}


def _response(cid: str | None, name: str | None, response: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"response": response}
    if cid is not None:
        out["id"] = cid
    if name is not None:
        out["name"] = name
    return {"functionResponse": out}


model_parts = rarely(
    st.one_of(
        st.builds(_signed, st.builds(lambda t: {"text": t}, words), signatures),
        st.builds(_signed, st.builds(lambda t: {"text": t, "thought": True}, words), signatures),
        st.builds(_signed, st.builds(_call, st.sampled_from(IDS), st.sampled_from(NAMES),
                                     st.sampled_from([{}, {"path": "a"}])), signatures),
        st.just({"executableCode": {"language": "PYTHON", "code": "1"}}),
        st.just({"inlineData": {"mimeType": "image/png", "data": "aGk="}}),
    ),
    st.sampled_from([{"mystery": 1}, "not a part"]),
)  # fmt: skip
user_parts = rarely(
    st.one_of(
        st.builds(lambda t: {"text": t}, words),
        st.builds(_response, st.sampled_from(IDS), st.sampled_from([*NAMES, None]),
                  st.sampled_from([{"output": "ok"}, {"error": "no"}, {"a": 1}, None])),
        st.just({"inlineData": {"mimeType": "image/png", "data": "aGk="}}),
        st.just({"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/f"}}),
    ),
    st.sampled_from([
        {"mystery": 1}, "not a part",
        {"functionResponse": {"name": "read_file", "response": {}, "parts": [{"mystery": 2}]}},
    ]),
)  # fmt: skip
contents = rarely(
    st.one_of(
        st.builds(lambda p: {"role": "model", "parts": p}, st.lists(model_parts, max_size=4)),
        st.builds(lambda r, p: {"role": r, "parts": p} if r else {"parts": p},
                  st.sampled_from(["user", "user", "function", None]),
                  st.lists(user_parts, max_size=3)),
    ),
    st.sampled_from(["not a content", {"role": "robot", "parts": []}, {"role": "user"},
                     {"role": "user", "parts": "x"}]),
)  # fmt: skip


def body(conversation: list[Any], last: str) -> bytes:
    return dumps({
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "tools": [{"functionDeclarations": [
            {"name": "read_file", "parametersJsonSchema": {"type": "object"}},
            {"name": "run_shell", "parameters": {"type": "OBJECT"}}]}],
        "generationConfig": {"temperature": 0,
                             "thinkingConfig": {"includeThoughts": True, "thinkingBudget": -1}},
        "contents": [*conversation, {"role": "user", "parts": [{"text": last}]}],
    })  # fmt: skip


def shape(raw: bytes, target: str, issuer: str, memo: MessageMemo | None, partial: bool) -> Any:
    return shape_as(CLIENT, raw, target, issuer, memo, partial, url_model="m")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(contents, max_size=8), edits(contents), st.data())
def test_with_the_memo_every_turn_is_the_fresh_translation(start, steps, data):
    assert_every_turn_fresh(CLIENT, shape, body, start, steps, data)


@settings(max_examples=40, deadline=None)
@given(st.lists(contents, min_size=1, max_size=6), st.integers(0, 5))
def test_a_tiny_memo_still_gives_the_fresh_translation(conversation, size):
    assert_tiny_memo_fresh(shape, body, conversation, size)


def test_errors_and_translations_both_come_up():
    """The property test's conversations are not all errors (nor all valid)."""
    assert_errors_and_translations_both_come_up(contents, shape, body, "anthropic")


# ------------------------------------------------------------------------ hits


def cli_history(turns: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": "Fix it."}]}]
    for i in range(turns):
        out += [
            {"role": "model", "parts": [
                {"text": "Let me look.", "thought": True},
                _signed(_call(None, "read_file", {"path": f"f{i}"}), "native-sig")]},
            {"role": "user", "parts": [
                _response(f"gemini-cli-{i}", "read_file", {"output": "x = 1\n" * 20})]},
        ]  # fmt: skip
    return out


def test_the_next_turn_parses_only_its_new_content(monkeypatch):
    assert_next_turn_parses_only_its_new_item(monkeypatch, CLIENT, shape, body, cli_history(30))


def test_an_invalid_content_gets_its_error_with_its_index_after_a_hit():
    memo = MessageMemo()
    history = cli_history(3)
    shape(body(history, "turn 1"), "anthropic", "p1", memo, False)
    broken = [*history, {"role": "user", "parts": "x"}]
    got = shape(body(broken, "turn 2"), "anthropic", "p1", memo, False)
    assert got == ("error", "contents[7].parts: must be a list", "contents[7].parts")


def test_a_response_answers_the_call_as_it_is_now():
    """A functionResponse with an id Gemini CLI invented pairs with the first
    unanswered call of its name: the call before it in this request."""
    memo = MessageMemo()
    result = {"role": "user", "parts": [_response("cli-1", "read_file", {"output": "ok"})]}
    before = [{"role": "model", "parts": [_call("c1", "read_file", {})]}, result]
    after = [{"role": "model", "parts": [_call("c2", "read_file", {})]}, result]
    shape(body(before, "1"), "anthropic", "p1", memo, False)
    raw = body(after, "2")
    got = shape(raw, "anthropic", "p1", memo, False)
    assert outcome(got) == outcome(shape(raw, "anthropic", "p1", None, False))
    assert b'"tool_use_id":"c2"' in got.body
    client = get_format(CLIENT)
    top = TopLevel.split(raw)
    assert top is not None
    assert memo.parse_request(client, top, model="m", stream=True) == client.parse_request(
        parse_json(raw), model="m", stream=True
    )
    assert_unchanged(memo)
