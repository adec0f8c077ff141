"""Canonical events -> Anthropic SSE, judged by the official SDK's stream
accumulator (what Claude Code and SDK users would see)."""

from __future__ import annotations

import json

import anthropic
import pytest
from anthropic_helpers import encode, sdk_final_message, sse_events
from omniroute_mitm.translators.anthropic import FORMAT
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    ErrorInfo,
    Finish,
    Media,
    Opaque,
    Reasoning,
    Refusal,
    StopReason,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
    counting_env,
    unwrap_meta,
)

START = StreamStart("chatcmpl-1", "gpt-upstream")


def _text_stream(*chunks: str, usage: Usage | None = None) -> list[StreamEvent]:
    return [
        START,
        BlockStart(0, Text("")),
        *(BlockDelta(0, c) for c in chunks),
        BlockEnd(0),
        Finish("stop", usage),
    ]


def test_message_start_has_the_client_model_and_the_input_estimate() -> None:
    data = encode(_text_stream("Hel", "lo"), model="claude-sonnet-4-5", input_tokens=1234)
    events = sse_events(data)
    assert [name for name, _ in events[:2]] == ["message_start", "ping"]
    message = events[0][1]["message"]
    assert message["model"] == "claude-sonnet-4-5"
    assert message["usage"]["input_tokens"] == 1234
    assert message["usage"]["output_tokens"] >= 1
    assert [name for name, _ in events].count("message_start") == 1


def test_provider_usage_replaces_the_estimate_at_the_end() -> None:
    usage = Usage(input_tokens=50, output_tokens=9, cache_read_tokens=30, cache_creation_tokens=5)
    message = sdk_final_message(encode(_text_stream("Hi", usage=usage), input_tokens=1234))
    assert message.content[0].type == "text" and message.content[0].text == "Hi"
    assert message.usage.input_tokens == 15  # Anthropic counts cache apart
    assert message.usage.cache_read_input_tokens == 30
    assert message.usage.cache_creation_input_tokens == 5
    assert message.usage.output_tokens == 9
    assert message.stop_reason == "end_turn"


def test_usage_from_stream_start_is_announced_in_message_start() -> None:
    events = _text_stream("x")
    events[0] = StreamStart("id", "m", Usage(input_tokens=40, cache_read_tokens=10))
    start = sse_events(encode(events, input_tokens=999))[0][1]["message"]["usage"]
    assert (start["input_tokens"], start["cache_read_input_tokens"]) == (30, 10)


def test_without_provider_usage_the_estimates_stand() -> None:
    message = sdk_final_message(encode(_text_stream("a" * 40), input_tokens=77))
    assert message.usage.input_tokens == 77
    assert message.usage.output_tokens == 10


def test_every_event_is_framed_with_its_type() -> None:
    data = encode(_text_stream("a", "b"))
    for chunk in data.decode().split("\n\n")[:-1]:
        name_line, data_line = chunk.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        assert json.loads(data_line[6:])["type"] == name_line[7:]
    assert data.endswith(b"\n\n")


def _tool_stream() -> list[StreamEvent]:
    return [
        START,
        BlockStart(0, Text("")),
        BlockDelta(0, "Checking."),
        BlockEnd(0),
        BlockStart(1, ToolCall("call_a", "get_weather")),
        BlockDelta(1, '{"city":'),
        BlockDelta(1, ' "Paris"}'),
        BlockEnd(1),
        BlockStart(2, ToolCall("call_b", "read_file")),
        BlockDelta(2, '{"path": "/tmp/ä"}'),
        BlockEnd(2),
        Finish("tool_use", Usage(12, 30)),
    ]


def test_parallel_tool_calls_keep_streamed_inputs_and_ids() -> None:
    message = sdk_final_message(encode(_tool_stream()))
    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "read_file", {"path": "/tmp/ä"}),
    ]
    assert message.stop_reason == "tool_use"


def test_whitespace_before_a_tool_input_is_not_sent_alone() -> None:
    """The Anthropic SDK parses every partial input: a first fragment " "
    (which OpenAI-compatible providers send) would make it fail."""
    events = [
        START,
        BlockStart(0, ToolCall("call_a", "get_weather")),
        BlockDelta(0, " "),
        BlockDelta(0, "\n "),
        BlockDelta(0, ' {"city": "Paris"}'),
        BlockDelta(0, " "),
        BlockEnd(0),
        Finish("tool_use"),
    ]
    data = encode(events)
    message = sdk_final_message(data)
    assert [(b.name, b.input) for b in message.content] == [("get_weather", {"city": "Paris"})]
    deltas = [
        e["delta"]["partial_json"]
        for _, e in sse_events(data)
        if e.get("delta", {}).get("type") == "input_json_delta"
    ]
    assert deltas == ['{"city": "Paris"}', " "]


def test_skipped_blocks_leave_indexes_dense() -> None:
    events: list[StreamEvent] = [
        START,
        BlockStart(0, Media("image/png", data="AAAA")),
        BlockEnd(0),
        BlockStart(1, Opaque("gemini", {"groundingMetadata": {}})),
        BlockEnd(1),
        BlockStart(2, Text("")),
        BlockDelta(2, "after"),
        BlockEnd(2),
        Finish("stop"),
    ]
    data = encode(events)
    indexes = [p["index"] for name, p in sse_events(data) if name == "content_block_start"]
    assert indexes == [0]
    assert sdk_final_message(data).content[0].text == "after"  # type: ignore[union-attr]


def _thinking(meta: dict[str, dict[str, str]]) -> list[StreamEvent]:
    return [
        START,
        BlockStart(0, Reasoning()),
        BlockDelta(0, "Let me think."),
        BlockEnd(0, meta),
        BlockStart(1, Text("")),
        BlockDelta(1, "Answer"),
        BlockEnd(1),
        Finish("stop", Usage(10, 20, reasoning_tokens=8)),
    ]


def test_anthropic_signature_is_sent_just_before_the_block_stops() -> None:
    data = encode(_thinking({"anthropic": {"signature": "sig-123"}}))
    names = [(n, p.get("delta", {}).get("type")) for n, p in sse_events(data)]
    at = names.index(("content_block_delta", "signature_delta"))
    assert names[at + 1] == ("content_block_stop", None)
    block = sdk_final_message(data).content[0]
    assert block.type == "thinking"
    assert (block.thinking, block.signature) == ("Let me think.", "sig-123")


def test_foreign_thinking_is_carried_in_the_signature_and_restored() -> None:
    meta = {"openai-responses": {"id": "rs_1", "encrypted_content": "gAAA"}}
    message = sdk_final_message(encode(_thinking(meta)))
    block = message.content[0]
    assert block.type == "thinking"
    assert unwrap_meta(block.signature) == meta
    # The client sends the turn back: the Responses metadata is restored, not
    # recorded as Anthropic's (so it is never sent to Anthropic as a signature).
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [b.to_dict() for b in message.content]},
        ],
    }
    part = FORMAT.parse_request(body).messages[1].parts[0]
    assert isinstance(part, Reasoning) and part.meta == meta


def test_thinking_without_any_signature_is_still_valid() -> None:
    block = sdk_final_message(encode(_thinking({}))).content[0]
    assert block.type == "thinking" and block.signature == ""


def test_redacted_thinking_is_sent_whole() -> None:
    events: list[StreamEvent] = [
        START,
        BlockStart(0, Reasoning()),
        BlockEnd(0, {"anthropic": {"data": "opaque-data"}}),
        Finish("stop"),
    ]
    data = encode(events)
    starts = [p for n, p in sse_events(data) if n == "content_block_start"]
    assert starts[0]["content_block"] == {"type": "redacted_thinking", "data": "opaque-data"}
    assert sdk_final_message(data).content[0].type == "redacted_thinking"


def test_custom_tool_input_is_streamed_as_an_input_string() -> None:
    patch = '*** Begin Patch\n*** Update File: "a.py"\n\\ end'
    events: list[StreamEvent] = [
        START,
        BlockStart(0, ToolCall("call_1", "apply_patch", kind="custom")),
        *(BlockDelta(0, patch[i : i + 7]) for i in range(0, len(patch), 7)),
        BlockEnd(0),
        Finish("tool_use"),
    ]
    block = sdk_final_message(encode(events)).content[0]
    assert block.type == "tool_use" and block.input == {"input": patch}


def test_tool_call_with_foreign_metadata_is_followed_by_a_carrier() -> None:
    meta = {"gemini": {"thoughtSignature": "c2lnbmF0dXJl"}}
    events: list[StreamEvent] = [
        START,
        BlockStart(0, ToolCall("call_1", "ls", meta=meta)),
        BlockDelta(0, "{}"),
        BlockEnd(0),
        Finish("stop"),
    ]
    message = sdk_final_message(encode(events))
    assert [b.type for b in message.content] == ["tool_use", "thinking"]
    assert message.stop_reason == "tool_use"  # a plain stop after tool calls
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [b.to_dict() for b in message.content]},
        ],
    }
    parts = FORMAT.parse_request(body).messages[1].parts
    assert len(parts) == 1 and isinstance(parts[0], ToolCall)
    assert parts[0].meta == meta


@pytest.mark.parametrize(
    ("reason", "with_tool", "wire"),
    [
        ("stop", False, "end_turn"),
        ("stop", True, "tool_use"),
        ("tool_use", True, "tool_use"),
        ("tool_use", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("stop_sequence", False, "stop_sequence"),
        ("content_filter", False, "refusal"),
        ("refusal", False, "refusal"),
        ("pause_turn", False, "pause_turn"),
        ("error", False, "end_turn"),
    ],
)
def test_stop_reasons(reason: StopReason, with_tool: bool, wire: str) -> None:
    events: list[StreamEvent] = [START]
    if with_tool:
        events += [BlockStart(0, ToolCall("c", "f")), BlockDelta(0, "{}"), BlockEnd(0)]
    events.append(Finish(reason, stop_sequence="END" if reason == "stop_sequence" else None))
    message = sdk_final_message(encode(events))
    assert message.stop_reason == wire


def test_error_before_anything_else_is_a_bare_error_event() -> None:
    error = ErrorInfo(529, "overloaded", "Overloaded")
    data = encode([StreamError(error)])
    assert data == (
        b"event: error\n"
        b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        sdk_final_message(data)


def test_error_mid_stream_ends_the_stream_for_the_sdk() -> None:
    events = _text_stream("partial")[:3]
    events.append(StreamError(ErrorInfo(429, "rate_limit", "slow down")))
    events.append(Finish("stop"))  # ignored: the stream is over
    data = encode(events)
    assert sse_events(data)[-1] == (
        "error",
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
    )
    with pytest.raises(anthropic.APIStatusError, match="slow down"):
        sdk_final_message(data)


def test_encoder_finish_reports_an_unfinished_stream() -> None:
    encoder = FORMAT.stream_encoder(counting_env(), model="m", input_tokens=3)
    encoder.feed(START)
    tail = encoder.finish()
    assert tail.startswith(b"event: error\n")
    assert encoder.finish() == b""


def test_ping_is_anthropics_ping() -> None:
    encoder = FORMAT.stream_encoder(counting_env(), model="m")
    assert encoder.ping() == b'event: ping\ndata: {"type": "ping"}\n\n'


def test_finish_before_stream_start_still_makes_a_valid_message() -> None:
    message = sdk_final_message(encode([Finish("stop", Usage(3, 1))], input_tokens=3))
    assert message.content == [] and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 3


def test_a_refusal_part_makes_a_refusal_stop() -> None:
    # Responses reports a refusal as a completed answer with a refusal part;
    # Anthropic has no refusal block, so only the stop reason can say it.
    events: list[StreamEvent] = [
        START,
        BlockStart(0, Refusal("")),
        BlockDelta(0, "I can't help with that."),
        BlockEnd(0),
        Finish("stop"),
    ]
    message = sdk_final_message(encode(events))
    assert message.content[0].type == "text"
    assert message.content[0].text == "I can't help with that."
    assert message.stop_reason == "refusal"
