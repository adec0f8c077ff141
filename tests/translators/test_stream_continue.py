"""A broken stream continued into the same client stream (StreamTranslator.resume)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    ErrorInfo,
    Finish,
    Reasoning,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
    counting_env,
)
from omniroute_mitm.translators.stream import Partial, Splice

ANTHROPIC_HEAD = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":'
    b'"message","role":"assistant","model":"m","content":[],"stop_reason":null,'
    b'"usage":{"input_tokens":40,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)


def _delta(text: str) -> bytes:
    payload = {"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": text}}  # fmt: skip
    return b"event: content_block_delta\ndata: " + json.dumps(payload).encode() + b"\n\n"


def _events(raw: bytes) -> list[dict]:
    return [
        json.loads(line[5:])
        for line in raw.splitlines()
        if line.startswith(b"data:") and line[5:].strip() != b"[DONE]"
    ]


def test_a_passthrough_stream_cut_in_a_text_block_goes_on_in_it() -> None:
    anthropic = get_format("anthropic")
    first = StreamTranslator(anthropic, anthropic, counting_env(), model="m", continuable=True)
    out = first.feed(ANTHROPIC_HEAD + _delta("Hello") + _delta(" wor") + b"event: content_bl")
    assert out == ANTHROPIC_HEAD + _delta("Hello") + _delta(" wor")  # whole events only
    assert first.finish() == b""  # cut: held for a continuation
    assert first.broken is not None and first.sent is not None
    assert [type(p) for p in first.sent.parts()] == [Text]
    # the continuation comes from a chat target that repeats the end of the text
    nxt = first.resume(get_format("openai-chat"), counting_env())
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hello wor"}}]},
        {"choices": [{"index": 0, "delta": {"content": "ld!"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 3}},
    ]
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    out = nxt.feed(raw + b"data: [DONE]\n\n") + nxt.finish()
    events = _events(out)
    kinds = [e["type"] for e in events]
    assert "message_start" not in kinds  # one start: the first attempt's
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert texts == ["ld!"]  # the repeated "Hello wor" trimmed
    assert all(e.get("index", 0) == 0 for e in events)  # the same block
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    usage = next(e for e in events if e["type"] == "message_delta")["usage"]
    assert usage["input_tokens"] == 40 + 50 and usage["output_tokens"] >= 3 + 1


def splice(sent_events: list[StreamEvent], *, exact: bool = False, trimmed: str = "") -> Splice:
    sent = Partial()
    sent.feed(sent_events)
    return Splice(sent, Usage(10, 2), exact=exact, trimmed=trimmed)


def texts(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, BlockDelta))


def test_a_prefill_continuation_drops_the_whitespace_the_client_has() -> None:
    s = splice([BlockStart(0, Text("")), BlockDelta(0, "one two ")], exact=True, trimmed=" ")
    out = s.feed([StreamStart("x", "m"), BlockStart(0, Text("")), BlockDelta(0, " "),
                  BlockDelta(0, " three"), BlockEnd(0), Finish("stop", Usage(20, 5))])  # fmt: skip
    assert texts(out) == "three"
    assert isinstance(out[-1], Finish) and out[-1].usage == Usage(30, 7)


def test_no_overlap_shorter_than_three_characters_is_trimmed() -> None:
    s = splice([BlockStart(0, Text("")), BlockDelta(0, "a b")])
    out = s.feed([BlockStart(0, Text("")), BlockDelta(0, "b c"), Finish("stop")])
    assert texts(out) == "b c"


def test_thinking_cut_is_closed_and_later_blocks_numbered_on() -> None:
    s = splice([BlockStart(0, Text("")), BlockDelta(0, "x"), BlockEnd(0),
                BlockStart(1, Reasoning("")), BlockDelta(1, "hmm")])  # fmt: skip
    out = s.feed([BlockStart(0, Text("")), BlockDelta(0, "y"), BlockEnd(0), Finish("stop")])
    assert out[0] == BlockEnd(1)  # closed without a signature
    assert out[1] == BlockStart(2, Text(""))
    assert [e.index for e in out if isinstance(e, BlockDelta | BlockEnd)][1:] == [2, 2]


def test_the_partial_turn_keeps_complete_calls_only() -> None:
    sent = Partial()
    sent.feed([BlockStart(0, Text("")), BlockDelta(0, "calling"), BlockEnd(0),
               BlockStart(1, ToolCall("c1", "f")), BlockDelta(1, '{"a": 1}'), BlockEnd(1),
               BlockStart(2, ToolCall("c2", "g")), BlockDelta(2, '{"b"')])  # fmt: skip
    assert sent.parts() == [Text("calling"), ToolCall("c1", "f", '{"a": 1}')]


def test_a_non_transient_error_still_ends_the_stream() -> None:
    chat = get_format("openai-chat")
    first = StreamTranslator(chat, get_format("anthropic"), counting_env(), model="m",
                             continuable=True)  # fmt: skip
    ok = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    bad = b'data: {"error":{"message":"no","type":"invalid_request_error"}}\n\n'
    out = first.feed(ok + bad)
    assert first.broken is None and b"error" in out
    assert isinstance(first.fail(ErrorInfo(500, "server", "x")), bytes)


def test_a_call_is_held_until_whole_and_the_next_one_too() -> None:
    from omniroute_mitm.translators.stream import HeldCalls

    calls = HeldCalls()
    out = calls.feed([BlockStart(0, Text("")), BlockDelta(0, "x"), BlockEnd(0),
                      BlockStart(1, ToolCall("a", "f")), BlockDelta(1, "{}")])  # fmt: skip
    assert out == [BlockStart(0, Text("")), BlockDelta(0, "x"), BlockEnd(0)]
    out = calls.feed([BlockEnd(1), BlockStart(2, ToolCall("b", "g")), BlockDelta(2, '{"')])
    assert out == [BlockStart(1, ToolCall("a", "f")), BlockDelta(1, "{}"), BlockEnd(1)]
    assert calls.holding
    calls.drop()
    assert calls.feed([Finish("stop")]) == [Finish("stop")]


def test_a_stream_cut_after_its_stop_reason_passed_is_not_held_for_a_continuation() -> None:
    """The client has the stop reason (message_delta): more text would follow an end."""
    anthropic = get_format("anthropic")
    t = StreamTranslator(anthropic, anthropic, counting_env(), model="m", continuable=True)
    finish = (
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
        b'"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}\n\n'
    )
    out = t.feed(ANTHROPIC_HEAD + _delta("done") + finish)
    assert out.endswith(finish)
    tail = t.finish()
    assert t.broken is None and t.error is not None and b"error" in tail  # as before


def test_a_break_before_any_content_is_not_held() -> None:
    chat = get_format("openai-chat")
    t = StreamTranslator(chat, get_format("anthropic"), counting_env(), model="m",
                         continuable=True)  # fmt: skip
    t.feed(b'data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n')
    t.finish()
    assert t.broken is None and t.error is not None  # falls back as before


def _sse_stream(crlf: bool) -> bytes:
    raw = ANTHROPIC_HEAD + b"".join(_delta(f" w{i}") for i in range(12)) + (
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
        b'"end_turn"},"usage":{"output_tokens":12}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    return raw.replace(b"\n", b"\r\n") if crlf else raw


@given(crlf=st.booleans(), cuts=st.lists(st.integers(0, 2000), max_size=12))
@settings(max_examples=60, deadline=None)
def test_a_continuable_passthrough_passes_every_chunking_on_unchanged(crlf, cuts) -> None:
    """Whole events only, however the provider's bytes are chunked (one event
    a chunk, several, a frame end split across two): the client gets the
    provider's bytes as they came, and the same answer is seen."""
    raw = _sse_stream(crlf)
    bounds = sorted({min(c, len(raw)) for c in cuts} | {0, len(raw)})
    anthropic = get_format("anthropic")
    translator = StreamTranslator(anthropic, anthropic, counting_env(), model="m",
                                  continuable=True)  # fmt: skip
    pieces = [translator.feed(raw[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    assert all(p.endswith((b"\n\n", b"\r\n\r\n")) for p in pieces if p)  # whole events
    out = b"".join(pieces) + translator.finish()
    assert out == raw
    assert translator.stop_reason == "stop" and translator.broken is None
    assert translator.sent is not None
    assert "".join(b.text for b in translator.sent.blocks) == "".join(f" w{i}" for i in range(12))


def _chat(*deltas: dict) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": d}]} for d in deltas]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)


def _call_chunks(arguments: str) -> bytes:
    """A text, then a call to f whose arguments are ``arguments`` (in two pieces)."""
    half = len(arguments) // 2
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": arguments[:half]}}  # fmt: skip
    rest = {"index": 0, "function": {"arguments": arguments[half:]}}
    return _chat({"role": "assistant", "content": "Let me check."},
                 {"tool_calls": [call]}, {"tool_calls": [rest]})  # fmt: skip


def _cut_chat_call(arguments: str, client: str) -> tuple[StreamTranslator, bytes]:
    chat = get_format("openai-chat")
    t = StreamTranslator(chat, get_format(client), counting_env(), model="m", continuable=True)
    out = t.feed(_call_chunks(arguments))
    out += t.finish()  # cut: no next call, no finish
    assert t.broken is not None
    return t, out


@given(client=st.sampled_from(["openai-chat", "anthropic"]), ws=st.sampled_from(["", " ", "\n"]))
@settings(max_examples=12, deadline=None)
def test_a_chat_call_whose_arguments_are_whole_at_the_break_reaches_the_client(client, ws) -> None:
    """A Chat call ends only when the next call or the finish begins: cut right
    after its arguments (a whole JSON object), it is complete and goes on."""
    arguments = '{"city": "Paris", "days": [1, 2]}' + ws
    t, out = _cut_chat_call(arguments, client)
    assert t.sent is not None
    assert t.sent.parts() == [Text("Let me check."), ToolCall("call_1", "f", arguments)]
    assert t.sent.open_block() is None  # the turn can end as a tool call turn
    if client == "anthropic":
        events = _events(out)
        got = "".join(e["delta"]["partial_json"] for e in events
                      if e["type"] == "content_block_delta" and "partial_json" in e["delta"])
        assert json.loads(got) == {"city": "Paris", "days": [1, 2]}
        assert events[-1]["type"] == "content_block_stop"  # the call closed for the client
    else:
        assert b'"arguments"' in out and b"Paris" in out  # passed through as it came


@given(cut=st.integers(0, len('{"city": "Paris", "days": [1, 2]}') - 1),
       client=st.sampled_from(["openai-chat", "anthropic"]))
@settings(max_examples=30, deadline=None)
def test_a_chat_call_cut_inside_its_arguments_never_reaches_the_client(cut, client) -> None:
    """Any shorter prefix of the arguments is no whole JSON object: held back."""
    arguments = '{"city": "Paris", "days": [1, 2]}'[:cut]
    t, out = _cut_chat_call(arguments, client)
    assert t.sent is not None and t.sent.parts() == [Text("Let me check.")]
    assert b"call_1" not in out and b'"f"' not in out


def test_a_prefix_continuation_goes_on_exactly_and_a_repeated_prefix_is_dropped() -> None:
    sent = [BlockStart(0, Text("")), BlockDelta(0, "one two "), BlockDelta(0, "three ")]
    # DeepSeek: only what follows the prefix
    s = Splice(_partial(sent), Usage(10, 2), exact=True, trimmed="", echo="one two three ")
    out = s.feed([BlockStart(0, Text("")), BlockDelta(0, "one"), BlockDelta(0, "s and four"),
                  BlockEnd(0), Finish("stop")])  # fmt: skip
    assert texts(out) == "ones and four"  # (held while it could be the prefix, then as it came)
    # an answer that opens with the whole prefix again: the repeat is dropped
    s = Splice(_partial(sent), Usage(10, 2), exact=True, trimmed="", echo="one two three ")
    out = s.feed([BlockStart(0, Text("")), BlockDelta(0, "one two "), BlockDelta(0, "three fo"),
                  BlockDelta(0, "ur"), BlockEnd(0), Finish("stop")])  # fmt: skip
    assert texts(out) == "four"


def _partial(events: list[StreamEvent]) -> Partial:
    sent = Partial()
    sent.feed(events)
    return sent


def test_a_new_answer_by_instruction_goes_on_at_its_first_words() -> None:
    """Nothing of it repeats the text sent: it is not held to be compared."""
    s = splice([BlockStart(0, Text("")), BlockDelta(0, "The fox jumps over the lazy dog and")])
    assert s.feed([BlockStart(0, Text(""))]) == []
    assert texts(s.feed([BlockDelta(0, " then")])) == " then"
    assert texts(s.feed([BlockDelta(0, " runs"), BlockEnd(0), Finish("stop")])) == " runs"


def test_a_repeated_tail_by_instruction_is_held_only_until_it_ends() -> None:
    s = splice([BlockStart(0, Text("")), BlockDelta(0, "The fox jumps over the lazy dog")])
    assert texts(s.feed([BlockStart(0, Text("")), BlockDelta(0, "the lazy")])) == ""
    assert texts(s.feed([BlockDelta(0, " dog")])) == ""  # the repeat, dropped
    assert texts(s.feed([BlockDelta(0, " barks")])) == " barks"  # at once


@given(
    sent=st.text("ab \n", min_size=1, max_size=30),
    opening=st.text("ab \n", max_size=12),
    repeat=st.integers(0, 30),
    cuts=st.lists(st.integers(1, 60), max_size=6),
)
@settings(max_examples=300, deadline=None)
def test_an_instruction_continuation_is_trimmed_alike_however_it_is_cut(
    sent, opening, repeat, cuts
) -> None:
    """Released as soon as what to trim is known, never other than if the
    whole opening had come in one piece."""
    text = sent[len(sent) - min(repeat, len(sent)) :] + opening
    bounds = sorted({c for c in cuts if c < len(text)} | {0, len(text)})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]

    def spliced(deltas: list[str]) -> str:
        s = splice([BlockStart(0, Text("")), BlockDelta(0, sent)])
        events = [BlockStart(0, Text("")), *(BlockDelta(0, d) for d in deltas), BlockEnd(0)]
        return texts([e for event in events for e in s.feed([event])])

    assert spliced(pieces) == spliced([text])
