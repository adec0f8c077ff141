"""Anthropic SSE: recorded streams decoded (whole, byte by byte, at random
splits) and re-encoded; the official SDK's accumulator judges the output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from anthropic_helpers import (
    Reader,
    accumulate,
    decode,
    encode,
    fixture_names,
    reader,
    sdk_final_message,
    sdk_view,
)
from omniroute_mitm.translators.canonical import (
    Reasoning,
    StreamError,
    Text,
    ToolCall,
    Usage,
    WebSearchCall,
    WebSearchResults,
)


@pytest.fixture
def fixture(fixtures_dir: Path) -> Reader:
    return reader(fixtures_dir)


# name -> (text start, [(tool name, input)], stop, usage (in, out, cache read, cache write))
EXPECTED = {
    "stream-text.sse": ("4200 + 42 = 4242", [], "stop", (17, 15, 0, 0)),
    "stream-max-tokens.sse": ("Here are all 50 U.S. states", [], "length", (15, 50, 0, 0)),
    "stream-stop-sequence.sse": ("\ndef pelican():", [], "stop_sequence", (16, 28, 0, 0)),
    "stream-cache-creation.sse": ("Here are concise", [], "stop", (1169, 201, 0, 1165)),
    "stream-cache-read.sse": ("Here are concise", [], "stop", (1169, 221, 1165, 0)),
    "stream-refusal-stop-details.sse": ("", [], "refusal", (18, 5, 0, 0)),
    "stream-tool-use-single-no-args.sse": (
        "",
        [("pelican_name_generator", {})],
        "tool_use",
        (543, 40, 0, 0),
    ),
    "stream-tool-use-parallel.sse": (
        "I'll retrieve the secrets",
        [
            ("secret_retrieval_tool", {"password": "mellon"}),
            ("secret_retrieval_tool", {"password": "radiance"}),
        ],
        "tool_use",
        (416, 109, 0, 0),
    ),
    "stream-text-then-tool-use-parallel.sse": (
        "Certainly!",
        [
            ("get_weather", {"location": "San Francisco, CA", "unit": "celsius"}),
            ("get_time", {"timezone": "America/Los_Angeles"}),
        ],
        "tool_use",
        (506, 153, 0, 0),
    ),
    "stream-thinking-signature.sse": ("1. **Pouch**", [], "stop", (46, 133, 0, 0)),
    "stream-thinking-then-tool-use.sse": ("", [("fixed_version", {})], "tool_use", (598, 92, 0, 0)),
    "stream-redacted-thinking.sse": ("I notice that", [], "stop", (92, 189, 0, 0)),
    "stream-web-search-citations.sse": (
        "Based on the search results",
        [],
        "stop",
        (10423, 341, 0, 0),
    ),
}


def test_every_recorded_stream_has_expectations() -> None:
    names = fixture_names(".sse")
    if not names:
        pytest.skip("../shared/fixtures not present")
    assert set(names) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_decodes_to_expected_content(name: str, fixture: Reader) -> None:
    text, calls, stop, usage = EXPECTED[name]
    acc = accumulate(decode(fixture(name)))
    response = acc.response
    assert acc.finished and acc.error is None
    assert "".join(p.text for p in response.parts if isinstance(p, Text)).startswith(text)
    got_calls = [
        (p.name, json.loads(p.arguments)) for p in response.parts if isinstance(p, ToolCall)
    ]
    assert got_calls == calls
    assert response.stop_reason == stop
    u = response.usage
    assert u is not None
    assert (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens) == usage


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_chunk_boundaries_do_not_matter(name: str, fixture: Reader) -> None:
    data = fixture(name)
    whole = decode(data)
    rng = random.Random(name)
    splits = sorted(rng.sample(range(1, len(data)), min(50, len(data) - 1)))
    assert decode(data, splits) == whole
    assert decode(data, list(range(1, len(data)))) == whole


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reencoded_fixture_gives_the_sdk_the_same_message(name: str, fixture: Reader) -> None:
    data = fixture(name)
    want = sdk_view(sdk_final_message(data))
    got = sdk_view(sdk_final_message(encode(decode(data))))
    assert got == want


def test_thinking_signature_and_reasoning_tokens_survive(fixture: Reader) -> None:
    response = accumulate(decode(fixture("stream-thinking-then-tool-use.sse"))).response
    thinking = response.parts[0]
    assert isinstance(thinking, Reasoning)
    assert thinking.text.startswith("The user wants me to")
    assert thinking.meta["anthropic"]["signature"].startswith("EoQDCm0I")
    assert response.usage is not None and response.usage.reasoning_tokens == 53


def test_redacted_thinking_keeps_its_data(fixture: Reader) -> None:
    response = accumulate(decode(fixture("stream-redacted-thinking.sse"))).response
    redacted = [p for p in response.parts if isinstance(p, Reasoning)]
    assert len(redacted) == 2
    assert all(p.text == "" and p.meta["anthropic"]["data"] for p in redacted)


def test_web_search_blocks_become_complete_web_parts(fixture: Reader) -> None:
    response = accumulate(decode(fixture("stream-web-search-citations.sse"))).response
    search, result = response.parts[0], response.parts[1]
    assert isinstance(search, WebSearchCall) and isinstance(result, WebSearchResults)
    assert search.query == "San Francisco weather today"
    assert result.call_id == search.id
    assert result.results[0].title == "San Francisco, CA Weather Forecast | AccuWeather"
    cited = [p for p in response.parts if isinstance(p, Text) and "anthropic" in p.meta]
    assert cited and cited[0].meta["anthropic"]["citations"][0]["type"] == (
        "web_search_result_location"
    )
    assert cited[0].citations[0].url == "https://www.wunderground.com/hourly/us/ca/san-francisco"
    assert response.usage is not None and response.usage.web_search_requests == 1


def test_block_indexes_are_unique_and_increasing(fixture: Reader) -> None:
    from omniroute_mitm.translators.canonical import BlockEnd, BlockStart

    events = decode(fixture("stream-web-search-citations.sse"))
    starts = [e.index for e in events if isinstance(e, BlockStart)]
    assert starts == list(range(len(starts)))
    open_index = None
    for event in events:
        if isinstance(event, BlockStart):
            assert open_index is None
            open_index = event.index
        elif isinstance(event, BlockEnd):
            assert event.index == open_index
            open_index = None


# ------------------------------------------------------------- decoder edges

ERROR_EVENT = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1","model":"claude","content":[],'
    b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    b"event: error\n"
    b'data: {"type":"error","error":{"details":null,"type":"overloaded_error",'
    b'"message":"Overloaded"},"request_id":"req_1"}\n\n'
)


def test_error_event_becomes_stream_error_after_closing_the_block() -> None:
    # Hand-built: no recorded mid-stream error exists (see fixtures INDEX).
    events = decode(ERROR_EVENT)
    error = events[-1]
    assert isinstance(error, StreamError)
    assert (error.error.kind, error.error.status, error.error.message) == (
        "overloaded",
        529,
        "Overloaded",
    )
    acc = accumulate(events)
    assert acc.error is not None and not acc.finished
    assert [p.text for p in acc.response.parts if isinstance(p, Text)] == ["Hi"]


def test_stream_cut_before_message_stop_is_an_error(fixture: Reader) -> None:
    data = fixture("stream-text.sse")
    cut = data[: data.index(b"event: message_stop")]
    events = decode(cut)
    assert isinstance(events[-1], StreamError)
    assert events[-1].error.status == 502
    assert "ended before completion" in events[-1].error.message


def test_unknown_events_and_deltas_are_ignored(fixture: Reader) -> None:
    data = fixture("stream-text.sse")
    noise = (
        b'event: future_event\ndata: {"type":"future_event","x":1}\n\n'
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"new_delta","v":1}}\n\n'
    )
    at = data.index(b"event: content_block_stop")
    assert decode(data[:at] + noise + data[at:]) == decode(data)


def test_invalid_json_is_an_error_not_a_crash() -> None:
    events = decode(b"event: message_start\ndata: {not json\n\n")
    assert len(events) == 1 and isinstance(events[0], StreamError)


def test_last_event_without_blank_line_is_still_read(fixture: Reader) -> None:
    data = fixture("stream-text.sse").rstrip(b"\n")
    acc = accumulate(decode(data))
    assert acc.finished and acc.error is None


def test_usage_from_message_start_survives_a_delta_without_input(fixture: Reader) -> None:
    acc = accumulate(decode(fixture("stream-cache-read.sse")))
    assert acc.response.usage == Usage(1169, 221, cache_read_tokens=1165)


def test_envelope_signatures_are_unwrapped_when_a_stream_is_replayed() -> None:
    from anthropic_helpers import encode
    from omniroute_mitm.translators.canonical import (
        BlockDelta,
        BlockEnd,
        BlockStart,
        Finish,
        StreamStart,
    )

    meta = {"gemini": {"thoughtSignature": "c2ln"}}
    events = [
        StreamStart("msg_1", "m"),
        BlockStart(0, Reasoning()),
        BlockDelta(0, "thought"),
        BlockEnd(0, meta),
        Finish("stop", Usage(3, 4)),
    ]
    again = accumulate(decode(encode(events))).response.parts[0]
    assert isinstance(again, Reasoning) and again.meta == meta
