"""A stream that breaks after its first tokens is continued, not lost.

Through mitmdump, with each official SDK as the client: the provider's
stream breaks after some content (a dropped connection, an overloaded
error event); the engine asks again with what the client already got as the
assistant's partial turn and splices the continuation into the client's
open stream. Each SDK's accumulator ends with one coherent message: the
text once (no repeat, no gap), one stop reason, usage of both attempts.

Each client's combo is ``[flaky-<client>/primary, fake-<other>/backup]``:
the same target continues first (same format: the passed-through stream
switches to translated); when it fails, the next target does (another
format). An Anthropic target continues a prefill exactly; the others are
asked by instruction and repeat the answer from its start here (the
repeat is trimmed). ``via-<format>``: a first leg in any format (passed
through or translated), its backup in the next; ``twice-<format>``: one
target, continued up to ``max_continuations`` (2 here); ``prefix-chat``: a
Chat target with ``continue: prefix`` (as DeepSeek and Mistral continue).
"""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import openai
import pytest
from e2e_harness import (
    FORMATS,
    Mitmdump,
    base_url,
    client_ssl_context,
    flaky_config,
    other,
    provider_key,
)
from fakeprovider import Reply, Usage, frames
from fakeprovider.sdk import Result, call
from fakeprovider.upstream import last_assistant_text, last_user_text
from google.genai import errors as genai_errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e

WORDS = " ".join(f"w{i}" for i in range(1, 25))
"""The whole answer (split into one delta a word by the fake provider)."""
FIRST = Usage(input=100, output=50)
SECOND = Usage(input=120, output=30)


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    port = request.getfixturevalue("e2e_provider").port
    combos = {  # another client on an Anthropic stream
        f"cont-via-anthropic-{fmt.split('-')[-1]}": {"targets": ["flaky-anthropic/primary"]}
        for fmt in ("openai-chat", "gemini")
    }
    for fmt in FORMATS:  # a first leg in any format, its backup in the next
        combos[f"via-{fmt}"] = {"targets": [f"flaky-{fmt}/primary", f"fake-{other(fmt)}/backup"]}
        combos[f"twice-{fmt}"] = {"targets": [f"flaky-{fmt}/primary"]}
    combos["prefix-chat"] = {"targets": ["flaky-prefix/primary"]}
    # (no stall_timeout: a tight one would also cut the streams of the tests
    # here whenever a loaded machine holds one back; stalls have their module)
    config = flaky_config(port, "cont", 5, combos, max_continuations=2)
    # a DeepSeek-compatible server of one's own: continues an assistant prefix
    config["providers"]["flaky-prefix"] = {
        "format": "openai-chat", "base_url": base_url("openai-chat", port),
        "keys": [provider_key("openai-chat")], "timeout": 5, "continue": "prefix"}  # fmt: skip
    return config


def broken(fault: str) -> Reply:
    if fault == "drop":
        return Reply(text=WORDS, usage=FIRST, drop_mid_stream=True)
    return Reply(text=WORDS, usage=FIRST, error_mid_stream=True, error_message="Overloaded")


def continuation(target: str) -> tuple[list[Reply], str]:
    """What the continuing target answers, and the text the client must end with."""
    if target == "anthropic":  # a prefill: the model goes on exactly (scripted below)
        raise AssertionError("anthropic targets are scripted by test_exact_continuation")
    return [Reply(text=WORDS, usage=SECOND)], WORDS  # repeats from the start: trimmed


def wait_for_line(mitm: Mitmdump, text: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in mitm.lines:
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}; last lines:\n" + "\n".join(mitm.lines[-20:]))


def check_usage(got) -> None:
    # both attempts: the first's input (reported or, when cut before its
    # usage, the continuation's) and output (reported or estimated) added
    assert got.input_tokens is not None and got.input_tokens >= 2 * FIRST.input
    assert got.output_tokens is not None and got.output_tokens > SECOND.output


@pytest.mark.parametrize("fault", ["drop", "overloaded"])
@pytest.mark.parametrize("client", [f for f in FORMATS if f != "anthropic"])
def test_continued_on_the_same_target_by_instruction(conn, fake, mitm, client, fault):
    replies, expected = continuation(client)
    fake.script([broken(fault), *replies])
    got = call(conn, client, f"cont-{client}", stream=True)
    assert got.text == expected  # first part + continuation, the repeat trimmed
    assert got.stop == "end"
    check_usage(got)
    first, second = fake.model_calls()
    assert first.format == second.format == client
    assert last_user_text(client, second.body).startswith("Your previous answer was cut off")
    wait_for_line(mitm, f"continued on flaky-{client}/primary after")


@pytest.mark.parametrize("client", [f for f in FORMATS if f != "openai-responses"])
def test_continued_on_another_target_by_instruction(conn, fake, mitm, client):
    """The same target fails before the continuation's content: the next
    target of the combo (another format) continues."""
    target = other(client)
    replies, expected = continuation(target)
    fake.script([broken("drop"), Reply(status=500), *replies])
    got = call(conn, client, f"cont-{client}", stream=True)
    assert got.text == expected
    assert got.stop == "end"
    check_usage(got)
    assert [r.format for r in fake.model_calls()] == [client, client, target]
    wait_for_line(mitm, f"continued on fake-{target}/backup after")


@pytest.mark.parametrize(("client", "combo"), [("anthropic", "cont-anthropic"),
                                               ("openai-responses", "cont-openai-responses")])
def test_exact_continuation_of_a_prefill(conn, fake, mitm, client, combo):
    """An Anthropic target continues the partial answer as a prefill: the
    prefill may not end in whitespace, so it is trimmed and the model's
    opening whitespace is not doubled. (Same target for the Anthropic client;
    the Responses client's backup is Anthropic.)"""
    first = Reply(text_deltas=["la "] * 24, text="la " * 24, usage=FIRST, drop_mid_stream=True)
    rest = Reply(text_deltas=[" fin", "ished."], text=" finished.", usage=SECOND)
    fake.script([first, Reply(status=500), rest] if client != "anthropic" else [first, rest])
    got = call(conn, client, combo, stream=True)
    calls = fake.model_calls()
    prefill = calls[-1].body["messages"][-1]
    assert calls[-1].format == "anthropic" and prefill["role"] == "assistant"
    content = prefill["content"]
    text = content if isinstance(content, str) else "".join(b["text"] for b in content)
    assert text.startswith("la la") and not text.endswith(" ")  # trimmed prefill
    assert got.text == text + " finished."  # the client got text + " " then "finished."
    assert got.stop == "end"
    check_usage(got)
    wait_for_line(mitm, "continued on")


@pytest.mark.parametrize("client", FORMATS)
def test_a_prefix_target_continues_exactly(conn, fake, mitm, client):
    """A Chat target that takes an assistant prefix (DeepSeek, Mistral, or
    ``continue: prefix``): the partial answer goes back as the last message
    with ``"prefix": true`` and no instruction; the model writes on after it
    (the fake provider answers only what follows the prefix)."""
    first = Reply(text=WORDS, usage=FIRST, drop_mid_stream=True)
    first.cut_at = at("openai-chat", first, b" w12")  # w1..w11 sent
    fake.script([first, Reply(text=WORDS, usage=SECOND)])
    got = call(conn, client, "prefix-chat", stream=True)
    assert (got.text, got.stop) == (WORDS, "end")
    check_usage(got)
    cut, cont = fake.model_calls()
    assert cont.format == "openai-chat" and cont.path == cut.path  # its own base URL
    last = cont.body["messages"][-1]
    assert last["role"] == "assistant" and last["prefix"] is True
    assert last["content"].rstrip().endswith("w11") and WORDS.startswith(last["content"])
    assert "cut off" not in cont.raw.decode()  # no instruction
    assert [m["role"] for m in cont.body["messages"]].count("assistant") == 1
    wait_for_line(mitm, "continued on flaky-prefix/primary after")


def _sse(kind: str, payload: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"


def _anthropic_cut_in_second_call() -> list[str]:
    """Text, a whole get_weather call, then get_time with half its arguments:
    the fake provider cuts at half the frames (the fillers after are never sent)."""
    start = {"type": "message_start", "message": {
        "id": "msg_cut", "type": "message", "role": "assistant", "model": "m", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": FIRST.input, "output_tokens": 1}}}  # fmt: skip

    def block(i: int, content: dict) -> str:
        return _sse("content_block_start",
                    {"type": "content_block_start", "index": i, "content_block": content})

    def delta(i: int, d: dict) -> str:
        return _sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})

    def stop(i: int) -> str:
        return _sse("content_block_stop", {"type": "content_block_stop", "index": i})

    sent = [
        _sse("message_start", start),
        block(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Let me check."}),
        stop(0),
        block(1, {"type": "tool_use", "id": "toolu_w", "name": "get_weather", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}),
        stop(1),
        block(2, {"type": "tool_use", "id": "toolu_t", "name": "get_time", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"tz": "U'}),
    ]
    return sent + [_sse("ping", {"type": "ping"})] * len(sent)


def test_a_call_cut_mid_arguments_is_held_back_and_the_whole_calls_end_the_turn(
    conn, fake, mitm
):
    """The break comes inside the second tool call's arguments: the client never
    sees half of it. A request cannot end on a call without its result, so
    the turn ends there as a tool call turn with the whole call (the model
    calls again what it still needs once it has the result)."""
    fake.script([Reply(raw_events=_anthropic_cut_in_second_call(), drop_mid_stream=True),
                 Reply(text="must not be used")])  # fmt: skip
    got = call(conn, "anthropic", "cont-anthropic", stream=True, tools=True)
    assert got.text == "Let me check."
    assert got.tool_calls == [("get_weather", {"city": "Paris"})]
    assert got.stop == "tool_use"
    assert got.input_tokens == FIRST.input and got.output_tokens and got.output_tokens > 1
    assert len(fake.model_calls()) == 1
    wait_for_line(mitm, "ended with its whole tool calls after")


@pytest.mark.parametrize("client", ["openai-chat", "gemini"])
def test_a_cut_call_never_reaches_a_translated_client_half_done(conn, fake, client):
    """Another client format on the same Anthropic stream (translated)."""
    model = {"openai-chat": "cont-via-anthropic-chat", "gemini": "cont-via-anthropic-gemini"}
    fake.script([Reply(raw_events=_anthropic_cut_in_second_call(), drop_mid_stream=True),
                 Reply(text="must not be used")])  # fmt: skip
    got = call(conn, client, model[client], stream=True, tools=True)
    assert got.text == "Let me check."
    assert got.tool_calls == [("get_weather", {"city": "Paris"})]
    assert got.stop == "tool_use"
    assert len(fake.model_calls()) == 1


def test_thinking_cut_by_the_break_is_closed_unsigned_and_the_answer_goes_on(conn, fake, mitm):
    """The break comes inside thinking: the client's thinking block is closed
    without a signature; nothing of it goes back (it has none), and the
    continuation answers."""
    fake.script([Reply(reasoning="step one then step two then step three", text="never",
                       signature="sig", drop_mid_stream=True),
                 Reply(text="The answer.", usage=SECOND)])  # fmt: skip
    got = call(conn, "anthropic", "cont-anthropic", stream=True)
    assert got.text == "The answer."
    assert got.reasoning and "step one then step two then step three".startswith(got.reasoning)
    assert not got.signature  # closed without one
    assert got.stop == "end"
    retried = fake.model_calls()[-1].body
    assert "step one" not in json.dumps(retried)  # unsigned thinking does not go back
    wait_for_line(mitm, "continued on flaky-anthropic/primary after")


SDK_ERRORS = (openai.APIError, anthropic.APIError, genai_errors.APIError)


def records_with(mitm: Mitmdump, text: str) -> list[dict]:
    """The records (http://omniroute/records/<id>) whose continuation note says ``text``."""
    found = []
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir)) as http:
        for record_id in range(1, 200):
            resp = http.get(f"http://omniroute/records/{record_id}")
            if resp.status_code != 200:
                continue
            record = resp.json()
            if any(text in note for note in record.get("continued") or []):
                found.append(record)
    return found


@pytest.mark.parametrize("client", FORMATS)
def test_a_continuation_that_breaks_too_is_continued(conn, fake, mitm, client):
    """``max_continuations`` (2 here): the continuation breaks after content
    of its own; the next continuation goes on after both parts."""
    first, second = broken("drop"), Reply(text=WORDS, usage=SECOND, drop_mid_stream=True,
                                          continues=True)  # fmt: skip
    first.cut_at = at(client, first, b" w6")
    fake.script([first, second, Reply(text=WORDS, usage=SECOND, continues=True)])
    got = call(conn, client, f"twice-{client}", stream=True)
    assert (got.text, got.stop) == (WORDS, "end")
    calls = fake.model_calls()
    assert len(calls) == 3
    partials = [last_assistant_text(client, c.body) for c in calls[1:]]
    assert len(partials[1]) > len(partials[0]) > 0  # each went on from what the client had
    assert got.input_tokens is not None and got.input_tokens >= FIRST.input + 2 * SECOND.input
    note = f"continued on flaky-{client}/primary after"
    deadline = time.monotonic() + 10  # the request's log line: both continuations
    while not any(f" twice-{client} -> " in x and x.count(note) == 2 for x in mitm.lines):
        assert time.monotonic() < deadline, "\n".join(mitm.lines[-20:])
        time.sleep(0.05)


def test_the_limit_of_continuations_then_the_break_ends_the_stream(conn, fake):
    """``max_continuations`` (2): a third break ends the client's stream
    with the error, as without continuations."""
    fake.script([broken("drop"), broken("drop"), broken("drop"), Reply(text="must not be used")])
    with pytest.raises(SDK_ERRORS):
        call(conn, "openai-chat", "twice-openai-chat", stream=True)
    assert len(fake.model_calls()) == 3


@pytest.mark.parametrize("client", FORMATS)
def test_a_non_streamed_answer_cut_mid_body_is_asked_again(conn, fake, mitm, client):
    """Nothing of a non-streamed answer reached the client when its body is
    cut: there is nothing to continue, it fails over like any failure before
    content (the combo's next target, another format, answers anew) and the
    client gets one whole answer."""
    fake.script([Reply(text="never whole " * 20, drop_mid_stream=True),
                 Reply(text=WORDS, usage=SECOND)])  # fmt: skip
    got = call(conn, client, f"cont-{client}", stream=False)
    assert (got.text, got.stop) == (WORDS, "end")
    assert (got.input_tokens, got.output_tokens) == (SECOND.input, SECOND.output)
    first, second = fake.model_calls()
    assert first.dropped and (first.format, second.format) == (client, other(client))
    assert not last_assistant_text(second.format, second.body)  # asked anew, no partial turn


# ------------------------------------------------------------------ acceptance
# Each case: the first leg (``via-<provider>``: the client's format passed
# through, or another translated) cut at a chosen frame; the continuation on
# the same target, or (``Reply(status=500)`` for the same) on the backup of
# the next format. The continuing model goes on exactly (``continues``: only
# what follows the partial turn it is sent), so the client's text must be the
# answer once: the first part plus the continuation, no overlap, no gap.

CALL_TEXT = "Let me check."
WEATHER = ("get_weather", {"city": "Paris"})
CLOCK = ("get_time", {"tz": "UTC"})
THOUGHT = "step one then step two then step three"


def at(fmt: str, reply: Reply, marker: bytes, after: int = 0) -> int:
    """The first of ``reply``'s frames in ``fmt`` holding ``marker`` (its index), plus ``after``."""
    found = [i for i, frame in enumerate(frames(fmt, reply)) if marker in frame]
    assert found, f"no frame with {marker!r} in {fmt}"
    return found[0] + after


def first_content(fmt: str) -> int:
    return at(fmt, Reply(text=WORDS), b'"w1"')


def cut(provider: str, case: str) -> tuple[Reply, Reply]:
    """The broken first answer and the continuing one, for ``case``."""
    if case in ("text", "error event", "stall"):
        first = Reply(text=WORDS, usage=FIRST)
        first.cut_at = at(provider, first, b" w12")  # w1..w11 sent
        first.drop_mid_stream = case == "text"
        first.error_mid_stream = case == "error event"
        if case == "stall":
            first.fault, first.stall = "stall_mid_stream", 30
        return first, Reply(text=WORDS, usage=SECOND, continues=True)
    if case == "tool arguments":
        first = Reply(text=CALL_TEXT, tool_calls=[WEATHER], usage=FIRST, drop_mid_stream=True)
        # after the first piece of the arguments (Gemini sends a call whole: before it)
        first.cut_at = (at(provider, first, b"functionCall") if provider == "gemini"
                        else at(provider, first, b'cit', after=1))  # fmt: skip
        return first, Reply(text=CALL_TEXT, tool_calls=[WEATHER], usage=SECOND, continues=True)
    if case == "thinking":
        first = Reply(reasoning=THOUGHT, signature="sig-cut", text=WORDS, usage=FIRST,
                      drop_mid_stream=True)  # fmt: skip
        first.cut_at = at(provider, first, b"step", after=1)  # its first piece sent
        return first, Reply(reasoning="again", text=WORDS, usage=SECOND, continues=True)
    raise AssertionError(case)


def expect(got: Result, case: str) -> None:
    if case == "tool arguments":
        assert (got.text, got.tool_calls, got.stop) == (CALL_TEXT, [WEATHER], "tool_use")
        assert all(got.tool_ids) and len(set(got.tool_ids)) == len(got.tool_ids)
    else:
        assert (got.text, got.tool_calls, got.stop) == (WORDS, [], "end")
    check_usage(got)


CASES = ["text", "tool arguments", "thinking", "error event"]
"""(and "stall": test_e2e_continue_stall)"""


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("client", FORMATS)
def test_a_break_is_continued_on_the_same_target(conn, fake, mitm, client, case):
    first, rest = cut(client, case)
    fake.script([first, rest])
    got = call(conn, client, f"via-{client}", stream=True, tools=True)
    expect(got, case)
    calls = fake.model_calls()
    assert [c.format for c in calls] == [client, client]
    if case == "thinking":
        assert "step one" not in calls[1].raw.decode()  # the cut thinking is not sent back
        assert got.signature != "sig-cut"
    wait_for_line(mitm, f"continued on flaky-{client}/primary after")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("client", FORMATS)
def test_a_break_is_continued_on_a_target_of_another_format(conn, fake, client, case):
    """The first leg is translated (its provider in another format than the
    client's) and the continuation comes from a third target in yet another."""
    provider = other(client)
    first, rest = cut(provider, case)
    fake.script([first, Reply(status=500), rest])
    got = call(conn, client, f"via-{provider}", stream=True, tools=True)
    expect(got, case)
    assert [c.format for c in fake.model_calls()] == [provider, provider, other(provider)]


@pytest.mark.parametrize("provider", [f for f in FORMATS if f != "gemini"])  # its calls come whole
@pytest.mark.parametrize("client", FORMATS)
def test_a_break_between_two_parallel_calls(conn, fake, client, provider):
    """The whole first call reached the client, so the turn ends on it (the
    model calls again what it still needs). Anthropic and Responses end a
    call with an event of its own; a Chat call ends only when the next
    begins, and cut right there its arguments are one whole JSON object: it
    is complete all the same."""
    first = Reply(text=CALL_TEXT, tool_calls=[WEATHER, CLOCK], usage=FIRST, drop_mid_stream=True)
    first.cut_at = at(provider, first, b"get_time")  # the first call's arguments all sent
    fake.script([first, Reply(text=CALL_TEXT, tool_calls=[WEATHER, CLOCK], usage=SECOND,
                              continues=True)])  # fmt: skip
    got = call(conn, client, f"via-{provider}", stream=True, tools=True)
    assert (got.text, got.stop) == (CALL_TEXT, "tool_use")
    assert all(got.tool_ids) and len(set(got.tool_ids)) == len(got.tool_ids)
    assert got.tool_calls == [WEATHER]
    assert len(fake.model_calls()) == 1


@pytest.mark.parametrize("client", FORMATS)
@given(provider=st.sampled_from(FORMATS), data=st.data())
@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
def test_a_break_after_any_number_of_events(conn, e2e_provider, client, provider, data):
    """Cut after N frames, N drawn (before content a fault falls back as it
    always did; after, the answer is continued): one whole answer either way."""
    fake = e2e_provider
    fake.reset()
    fault = data.draw(st.sampled_from(["drop", "error"]), label="fault")
    first = broken(fault)
    last = len(frames(provider, first)) - 2  # the last content frame or before
    first.cut_at = data.draw(st.integers(1, last), label="cut_at")
    fake.script([first, Reply(text=WORDS, usage=SECOND, continues=True)])
    got = call(conn, client, f"via-{provider}", stream=True)
    assert (got.text, got.stop) == (WORDS, "end")
    calls = fake.model_calls()
    assert len(calls) == 2
    if first.cut_at > first_content(provider):  # content went out: continued
        assert calls[1].format == provider  # on the same target
        check_usage(got)
    else:  # nothing of it went out: the backup answered the question anew
        assert got.input_tokens == SECOND.input and got.output_tokens == SECOND.output
