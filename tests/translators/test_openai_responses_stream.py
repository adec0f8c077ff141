"""openai-responses streams, decoding: recorded streams give the same canonical
events however the bytes are split, and odd-but-real shapes still decode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    ErrorInfo,
    Finish,
    Opaque,
    Reasoning,
    Refusal,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
)
from openai_responses_helpers import accumulate, decode, pieces, sse_stream

NAME = "openai-responses"

# fixture -> (part kinds, stop reason or error status, usage)
EXPECTED: dict[str, tuple[list[str], str | int, Usage | None]] = {
    "stream-text.sse": (["Text"], "stop", Usage(16, 11)),
    "stream-function-call.sse": (["ToolCall"], "tool_use", Usage(255, 16)),
    "stream-function-calls-parallel.sse": (["ToolCall", "ToolCall"], "tool_use", Usage(36, 54)),
    "stream-incomplete-max-output-tokens.sse": (["Text"], "length", Usage(14, 50)),
    "stream-reasoning-summary.sse": (
        ["Reasoning", "Text"],
        "stop",
        Usage(32, 839, reasoning_tokens=832),
    ),
    "stream-reasoning-then-function-call.sse": (
        ["Reasoning", "ToolCall"],
        "tool_use",
        Usage(53, 469, reasoning_tokens=448),
    ),
    "stream-refusal.sse": (["Refusal"], "refusal", Usage(54, 11)),
    "stream-web-search-cached-tokens.sse": (
        ["Reasoning", "WebSearchCall", "Reasoning", "Text"],
        "stop",
        Usage(9463, 582, cache_read_tokens=8320, reasoning_tokens=512, web_search_requests=1),
    ),
    "stream-web-search-url-citation.sse": (
        ["WebSearchCall", "WebSearchCall", "Text"],
        "stop",
        Usage(12243, 140, reasoning_tokens=100, web_search_requests=2),
    ),
    "stream-error-insufficient-quota.sse": ([], 429, None),
}


def read(fixtures_dir: Path, name: str) -> bytes:
    return (fixtures_dir / "openai-responses" / name).read_bytes()


def check_shape(events: list[StreamEvent]) -> None:
    """StreamStart first; blocks numbered 0, 1, 2... with one open at a time;
    Finish or StreamError last and only there."""
    assert isinstance(events[0], StreamStart)
    assert isinstance(events[-1], Finish | StreamError)
    assert not any(isinstance(e, Finish | StreamError) for e in events[:-1])
    open_index, next_index = None, 0
    for event in events[1:-1]:
        if isinstance(event, BlockStart):
            assert open_index is None and event.index == next_index
            open_index, next_index = event.index, next_index + 1
        elif isinstance(event, BlockDelta):
            assert event.index == open_index
        elif isinstance(event, BlockEnd):
            assert event.index == open_index
            open_index = None
    assert open_index is None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_stream_decodes_the_same_however_split(fixtures_dir: Path, name: str) -> None:
    data = read(fixtures_dir, name)
    whole = decode(pieces(data, "whole"))
    check_shape(whole)
    assert decode(pieces(data, "bytes")) == whole
    for seed in range(3):
        assert decode(pieces(data, "random", seed)) == whole


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_stream_content(fixtures_dir: Path, name: str) -> None:
    kinds, outcome, usage = EXPECTED[name]
    acc = accumulate(decode([read(fixtures_dir, name)]))
    assert [type(p).__name__ for p in acc.response.parts] == kinds
    if isinstance(outcome, int):
        assert acc.error is not None and acc.error.status == outcome
        assert not acc.finished
    else:
        assert acc.error is None and acc.response.stop_reason == outcome
        assert acc.response.usage == usage


def test_recorded_text_and_arguments(fixtures_dir: Path) -> None:
    text = accumulate(decode([read(fixtures_dir, "stream-text.sse")])).response
    assert text.parts == [Text("4200 + 42 equals 4242.")]
    assert text.id == "resp_0360bd45725b0a010068f966a4c4a881959717ba17b93477ef"
    calls = accumulate(decode([read(fixtures_dir, "stream-function-calls-parallel.sse")]))
    got = [(p.id, p.name, p.arguments) for p in calls.response.parts if isinstance(p, ToolCall)]
    assert got == [
        ("call_sKC7OABqf2A2PTLCm0CLeRWV", "secret_retrieval_tool", '{"password":"mellon"}'),
        ("call_OdR3s3xop0vtgkDyWRMLafuH", "secret_retrieval_tool", '{"password":"radiance"}'),
    ]
    refusal = accumulate(decode([read(fixtures_dir, "stream-refusal.sse")])).response
    assert refusal.parts == [Refusal("I'm sorry, I can't assist with that.")]


def test_recorded_reasoning_keeps_encrypted_content(fixtures_dir: Path) -> None:
    data = read(fixtures_dir, "stream-reasoning-then-function-call.sse")
    reasoning = accumulate(decode([data])).response.parts[0]
    assert isinstance(reasoning, Reasoning) and reasoning.text == ""
    assert reasoning.meta[NAME]["id"].startswith("rs_")
    assert reasoning.meta[NAME]["encrypted_content"].startswith("gAAAAAB")
    summary = accumulate(decode([read(fixtures_dir, "stream-reasoning-summary.sse")]))
    first = summary.response.parts[0]
    assert isinstance(first, Reasoning)
    assert first.text.startswith("**Exploring prime numbers**")
    assert "**Final count of primes**" in first.text


def test_recorded_error_stream(fixtures_dir: Path) -> None:
    events = decode([read(fixtures_dir, "stream-error-insufficient-quota.sse")])
    assert len(events) == 2  # StreamStart, then one error (response.failed adds none)
    error = events[-1]
    assert isinstance(error, StreamError)
    assert (error.error.kind, error.error.code) == ("rate_limit", "insufficient_quota")
    assert error.error.message.startswith("You exceeded your current quota")


# ------------------------------------------------------------- hand-built shapes

CREATED = {
    "type": "response.created",
    "response": {"id": "resp_1", "model": "gpt-x", "created_at": 9},
}
COMPLETED = {
    "type": "response.completed",
    "response": {
        "id": "resp_1",
        "status": "completed",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    },
}


def run(*events: dict[str, Any]) -> list[StreamEvent]:
    return decode([sse_stream(*events)])


def test_stream_cut_before_the_end_is_an_error() -> None:
    events = run(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "content_index": 0,
            "delta": "par",
        },
    )
    assert events[-2] == BlockEnd(0)  # the open text block is closed first
    assert isinstance(events[-1], StreamError) and events[-1].error.status == 502


def test_flat_error_event_ends_the_stream() -> None:
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "slow", "param": None}
    events = run(CREATED, error, {"type": "response.output_text.delta", "delta": "late"}, COMPLETED)
    assert len(events) == 2
    assert isinstance(events[1], StreamError)
    assert (events[1].error.status, events[1].error.message) == (429, "slow")


def test_failed_without_error_event() -> None:
    failed = {
        "type": "response.failed",
        "response": {"error": {"code": "server_error", "message": "boom"}},
    }
    events = run(CREATED, failed)
    assert isinstance(events[-1], StreamError) and events[-1].error.status == 500


def test_text_only_in_done_events_is_not_lost() -> None:
    events = run(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {
            "type": "response.content_part.added",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text"},
        },
        {
            "type": "response.output_text.done",
            "output_index": 0,
            "content_index": 0,
            "text": "whole",
        },
        {"type": "response.content_part.done", "output_index": 0, "content_index": 0},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"type": "function_call", "call_id": "c", "name": "f"},
        },
        {"type": "response.function_call_arguments.done", "output_index": 1, "arguments": "{}"},
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"a":1}'},
        },
        COMPLETED,
    )
    acc = accumulate(events)
    assert acc.response.parts == [Text("whole"), ToolCall("c", "f", '{"a":1}')]
    assert acc.response.stop_reason == "tool_use"


def test_items_delivered_only_whole() -> None:
    message = {
        "type": "message",
        "content": [{"type": "output_text", "text": "hi"}, {"type": "refusal", "refusal": "no"}],
    }
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "hm"}],
        "encrypted_content": "E",
    }
    call = {
        "type": "custom_tool_call",
        "id": "ctc_1",
        "call_id": "c",
        "name": "exec",
        "input": "ls",
    }
    events = run(
        {"type": "response.output_item.done", "output_index": 0, "item": reasoning},
        {"type": "response.output_item.done", "output_index": 1, "item": message},
        {"type": "response.output_item.done", "output_index": 2, "item": call},
        COMPLETED,
    )
    check_shape(events)
    parts = accumulate(events).response.parts
    assert parts == [
        Reasoning(
            "hm",
            meta={NAME: {"id": "rs_1", "encrypted_content": "E", "summary": reasoning["summary"]}},
        ),
        Text("hi"),
        Refusal("no"),
        ToolCall("c", "exec", "ls", kind="custom", meta={NAME: {"id": "ctc_1"}}),
    ]


def test_deltas_without_content_part_events_and_unknown_events() -> None:
    events = run(
        CREATED,
        {"type": "response.future_event", "whatever": 1},
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "a"},
        {"type": "response.output_text.annotation.added", "output_index": 0, "annotation": {}},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "b"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "message", "content": [{"type": "output_text", "text": "ab"}]},
        },
        COMPLETED,
    )
    check_shape(events)
    assert accumulate(events).response.parts == [Text("ab")]


def test_custom_tool_input_streams_as_arguments() -> None:
    item = {"type": "custom_tool_call", "call_id": "c", "name": "exec", "input": ""}
    events = run(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": "ls "},
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": "-la"},
        {"type": "response.custom_tool_call_input.done", "output_index": 0, "input": "ls -la"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**item, "input": "ls -la"},
        },
        COMPLETED,
    )
    assert events[1] == BlockStart(0, ToolCall("c", "exec", kind="custom"))
    assert [e.text for e in events if isinstance(e, BlockDelta)] == ["ls ", "-la"]
    assert accumulate(events).response.stop_reason == "tool_use"


def test_incomplete_for_content_filter() -> None:
    incomplete = {
        "type": "response.incomplete",
        "response": {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}},
    }
    events = run(CREATED, incomplete)
    assert events[-1] == Finish("content_filter", None)


def test_keepalive_comments_are_ignored() -> None:
    data = b": ping\n\n" + sse_stream(CREATED) + b": keep-alive\n\n" + sse_stream(COMPLETED)
    events = decode([data])
    assert events == [StreamStart("resp_1", "gpt-x", None, 9), Finish("stop", Usage(3, 4))]


def test_an_event_that_is_not_json_fails_the_stream_as_in_every_format() -> None:
    data = sse_stream(CREATED) + b"data: not json\n\n" + sse_stream(COMPLETED)
    events = decode([data])
    assert events == [
        StreamStart("resp_1", "gpt-x", None, 9),
        StreamError(ErrorInfo(502, "server", "upstream sent invalid JSON in its stream")),
    ]


def test_opaque_items_are_complete_blocks() -> None:
    search = {
        "type": "image_generation_call",
        "id": "ig_1",
        "status": "completed",
        "result": "aGk=",
    }
    events = run(
        CREATED,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**search, "status": "in_progress"},
        },
        {"type": "response.image_generation_call.generating", "output_index": 0},
        {"type": "response.output_item.done", "output_index": 0, "item": search},
        COMPLETED,
    )
    assert events[1:3] == [BlockStart(0, Opaque(NAME, search)), BlockEnd(0)]
