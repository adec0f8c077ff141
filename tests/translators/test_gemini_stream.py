"""streamGenerateContent: recorded streams decoded (however the bytes are
split), and encoder output read back by google-genai's own stream parser."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from gemini_helpers import (
    APIError,
    accumulate,
    client,
    decode,
    encode,
    fixture,
    sdk_chunks,
    sdk_view,
    stream_fixture_names,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    ErrorInfo,
    Finish,
    Media,
    Reasoning,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
    counting_env,
)
from omniroute_mitm.translators.gemini import FORMAT
from omniroute_mitm.translators.gemini.framing import JsonObjectSplitter

# ------------------------------------------------------------------ decoding


def _check_shape(events: list[StreamEvent]) -> None:
    """StreamStart first, one block open at a time, increasing indexes, one end."""
    assert isinstance(events[0], StreamStart)
    assert isinstance(events[-1], Finish | StreamError)
    assert sum(isinstance(e, Finish | StreamError) for e in events) == 1
    open_index, last = None, -1
    for event in events[1:-1]:
        if isinstance(event, BlockStart):
            assert open_index is None and event.index == last + 1
            open_index = last = event.index
        elif isinstance(event, BlockDelta):
            assert event.index == open_index
        elif isinstance(event, BlockEnd):
            assert event.index == open_index
            open_index = None
    assert open_index is None


@pytest.mark.parametrize("name", stream_fixture_names())
def test_fixture_decodes_the_same_however_it_is_split(name: str) -> None:
    data = fixture(name)
    whole = decode(data)
    _check_shape(whole)
    assert decode(data, list(range(1, len(data)))) == whole
    rng = random.Random(name)
    for _ in range(5):
        splits = sorted(rng.sample(range(1, len(data)), min(30, len(data) - 1)))
        assert decode(data, splits) == whole


def _summary(events: list[StreamEvent]) -> dict[str, Any]:
    acc = accumulate(events)
    response = acc.response
    return {
        "kinds": [type(p).__name__ for p in response.parts],
        "text": "".join(p.text for p in response.parts if isinstance(p, Text)),
        "calls": [
            (p.name, json.loads(p.arguments)) for p in response.parts if isinstance(p, ToolCall)
        ],
        "signed": [type(p).__name__ for p in response.parts if "gemini" in p.meta],
        "stop": response.stop_reason,
        "usage": response.usage,
    }


EXPECTED: dict[str, dict[str, Any]] = {
    "stream-text.sse": {
        "kinds": ["Text"],
        "calls": [],
        "signed": [],
        "stop": "stop",
        "usage": Usage(input_tokens=13, output_tokens=138, reasoning_tokens=75),
    },
    "stream-function-call.sse": {
        "kinds": ["ToolCall"],
        "calls": [("get_capital", {"country": "France"})],
        "signed": [],
        "stop": "tool_use",
        "usage": Usage(input_tokens=52, output_tokens=5),
    },
    "stream-function-call-thought-signature.sse": {
        "kinds": ["ToolCall"],  # the trailing empty text part opens no block
        "calls": [("get_country", {})],
        "signed": ["ToolCall"],
        "stop": "tool_use",
        "usage": Usage(input_tokens=29, output_tokens=212, reasoning_tokens=202),
    },
    "stream-function-calls-parallel.sse": {
        "kinds": ["ToolCall", "ToolCall"],
        "calls": [
            ("secret_retrieval_tool", {"password": "mellon"}),
            ("secret_retrieval_tool", {"password": "radiance"}),
        ],
        "signed": ["ToolCall"],
        "stop": "tool_use",
        "usage": Usage(input_tokens=70, output_tokens=101, reasoning_tokens=61),
    },
    "stream-thinking-thought-parts.sse": {
        "kinds": ["Reasoning", "Text"],
        "calls": [],
        "stop": "stop",
    },
    "stream-text-trailing-thought-signature.sse": {
        "kinds": ["Text"],
        "text": '{\n  "city": "Mexico City",\n  "country": "Mexico"\n} ',
        "signed": ["Text"],
        "stop": "stop",
    },
    "stream-max-tokens.sse": {"kinds": ["Text"], "text": "Here are all 50 U.S.", "stop": "length"},
    "stream-grounding-google-search.sse": {
        "kinds": ["Text", "WebSearchCall", "WebSearchResults"],
        "calls": [],
        "stop": "stop",
    },
    "stream-vertex-partial-args-parallel.sse": {
        "kinds": ["Reasoning", "ToolCall", "ToolCall", "ToolCall", "ToolCall"],
        "calls": [
            ("read_theme", {}),
            ("read_screen", {"id": "A"}),
            ("read_screen", {"id": "B"}),
            ("read_screen", {"id": "C"}),
        ],
        "signed": ["ToolCall"],
        "stop": "tool_use",
        "usage": Usage(input_tokens=249, output_tokens=241, reasoning_tokens=183),
    },
    "stream-no-sse-json-array.json": {
        "kinds": ["Reasoning", "Text"],
        "text": "Scoop",
        "signed": ["Text"],
        "stop": "stop",
        "usage": Usage(input_tokens=11, output_tokens=293, reasoning_tokens=291),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_content(name: str) -> None:
    summary = _summary(decode(fixture(name)))
    for key, value in EXPECTED[name].items():
        assert summary[key] == value, key


def test_streamed_arguments_arrive_as_one_delta_per_call() -> None:
    events = decode(fixture("stream-vertex-partial-args-parallel.sse"))
    calls = {
        e.index: e.part
        for e in events
        if isinstance(e, BlockStart) and isinstance(e.part, ToolCall)
    }
    deltas = [e for e in events if isinstance(e, BlockDelta) and e.index in calls]
    assert [d.text for d in deltas] == ["{}", '{"id":"A"}', '{"id":"B"}', '{"id":"C"}']
    assert len({c.id for c in calls.values()}) == 4


def test_missing_call_ids_come_from_the_response_id() -> None:
    events = decode(fixture("stream-function-calls-parallel.sse"))
    ids = [e.part.id for e in events if isinstance(e, BlockStart) and isinstance(e.part, ToolCall)]
    start = events[0]
    assert isinstance(start, StreamStart)
    assert ids == [f"call_{start.id}_0", f"call_{start.id}_1"]


def _sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def test_partial_args_with_nested_paths_and_scalars() -> None:
    chunks = [
        {"functionCall": {"name": "f", "willContinue": True}},
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.q", "stringValue": "he", "willContinue": True}],
                "willContinue": True,
            }
        },
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.q", "stringValue": "llo"}],
                "willContinue": True,
            }
        },
        {
            "functionCall": {
                "partialArgs": [
                    {"jsonPath": "$.opts.limit", "numberValue": 3},
                    {"jsonPath": "$.opts.exact", "boolValue": False},
                    {"jsonPath": "$.tags[1]", "stringValue": "b"},
                    {"jsonPath": "$.tags[0]", "stringValue": "a"},
                    {"jsonPath": "$.none", "nullValue": None},
                ],
                "willContinue": True,
            }
        },
        {"functionCall": {}},
    ]
    data = b"".join(
        b"data: "
        + json.dumps({"candidates": [{"content": {"role": "model", "parts": [p]}}]}).encode()
        + b"\r\n\r\n"
        for p in chunks
    )
    data += _sse({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]})
    summary = _summary(decode(data))
    assert summary["calls"] == [
        (
            "f",
            {"q": "hello", "opts": {"limit": 3, "exact": False}, "tags": ["a", "b"], "none": None},
        )
    ]


TEXT_CHUNK = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
    "responseId": "r9",
}


def test_cut_stream_ends_in_an_error_with_blocks_closed() -> None:
    events = decode(_sse(TEXT_CHUNK))
    assert isinstance(events[-2], BlockEnd)
    assert events[-1] == StreamError(
        ErrorInfo(502, "server", "upstream stream ended before completion")
    )


def test_empty_body_is_an_error() -> None:
    events = decode(b"")
    assert len(events) == 1 and isinstance(events[0], StreamError)


OVERLOADED = {
    "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
}


@pytest.mark.parametrize(
    "error_bytes",
    [
        json.dumps(OVERLOADED).encode() + b"\r\n",
        json.dumps(OVERLOADED, indent=2).encode() + b"\n",
        b"data: " + json.dumps(OVERLOADED).encode() + b"\r\n\r\n",
    ],
    ids=["bare-line", "pretty-printed", "data-line"],
)
def test_in_stream_error(error_bytes: bytes) -> None:
    data = _sse(TEXT_CHUNK) + error_bytes
    whole = decode(data)
    assert decode(data, list(range(1, len(data)))) == whole
    assert whole[-1] == StreamError(
        ErrorInfo(503, "overloaded", "The model is overloaded.", code="UNAVAILABLE")
    )
    assert isinstance(whole[-2], BlockEnd)


def test_error_inside_a_json_array_stream() -> None:
    data = (
        b"["
        + json.dumps(TEXT_CHUNK).encode()
        + b',\r\n{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]'
    )
    events = decode(data)
    assert events[-1] == StreamError(
        ErrorInfo(429, "rate_limit", "quota", code="RESOURCE_EXHAUSTED")
    )


def test_blocked_prompt_finishes_as_content_filter() -> None:
    events = decode(
        _sse(
            {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
        )
    )
    assert events[-1] == Finish("content_filter", Usage(input_tokens=3))


def test_malformed_chunk_is_an_error() -> None:
    events = decode(b"data: {not json}\r\n\r\n")
    assert isinstance(events[-1], StreamError) and events[-1].error.status == 502


def test_keepalive_blank_lines_and_comments_are_ignored() -> None:
    final = {"candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "STOP"}]}
    data = b"\r\n: ping\r\n\r\n" + _sse(TEXT_CHUNK) + b"\r\n" + _sse(final)
    assert _summary(decode(data))["text"] == "Hello"


# ------------------------------------------------------------------ encoding

TOOL_TURN: list[StreamEvent] = [
    StreamStart("msg_1", "claude-x", Usage(input_tokens=12)),
    BlockStart(0, Reasoning()),
    BlockDelta(0, "Let me "),
    BlockDelta(0, "check."),
    BlockEnd(0, {"anthropic": {"signature": "EqQB"}}),
    BlockStart(1, Text("")),
    BlockDelta(1, "Checking "),
    BlockDelta(1, 'ünïcode 日本 "quotes"\n'),
    BlockEnd(1),
    BlockStart(2, ToolCall("toolu_a", "get_weather")),
    BlockDelta(2, '{"city":'),
    BlockDelta(2, ' "Paris"}'),
    BlockEnd(2),
    BlockStart(3, ToolCall("toolu_b", "get_weather")),
    BlockDelta(3, '{"city": "Rome"}'),
    BlockEnd(3),
    Finish(
        "tool_use",
        Usage(input_tokens=12, output_tokens=40, cache_read_tokens=4, reasoning_tokens=9),
    ),
]


@pytest.mark.parametrize("piece", [0, 1, 7])
def test_sdk_reads_the_encoded_stream(piece: int) -> None:
    view = sdk_view(sdk_chunks(encode(TOOL_TURN), piece=piece))
    assert view["text"] == 'Checking ünïcode 日本 "quotes"\n'
    assert view["thoughts"] == "Let me check."
    assert view["calls"] == [
        ("toolu_a", "get_weather", {"city": "Paris"}),
        ("toolu_b", "get_weather", {"city": "Rome"}),
    ]
    assert view["finish"] == "STOP"
    assert view["usage"] == (12, 31, 9, 4)


def test_encoded_stream_framing() -> None:
    data = encode(TOOL_TURN)
    frames = data.split(b"\r\n\r\n")
    assert frames[-1] == b""
    assert all(f.startswith(b"data: {") for f in frames[:-1])
    first = json.loads(frames[0][6:])
    assert first["modelVersion"] == "gemini-test" and first["responseId"] == "msg_1"


def test_json_array_mode_is_one_valid_array() -> None:
    data = encode(TOOL_TURN, sse=False)
    assert data.startswith(b"[{") and b"\r\n,{" in data and data.endswith(b"}]")
    chunks = json.loads(data)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert _summary(decode(data)) == _summary(decode(encode(TOOL_TURN)))
    assert encode([], sse=False) == b"[]"


def test_encode_then_decode_keeps_the_response() -> None:
    gemini_meta = {"gemini": {"thoughtSignature": "c2lnbmF0dXJl"}}
    events: list[StreamEvent] = [
        StreamStart("r1", "gemini-3", Usage(input_tokens=3)),
        BlockStart(0, Reasoning()),
        BlockDelta(0, "hmm"),
        BlockEnd(0, {"anthropic": {"signature": "abc"}}),
        BlockStart(1, Text("")),
        BlockDelta(1, "answer"),
        BlockEnd(1, gemini_meta),
        BlockStart(2, ToolCall("c1", "f")),
        BlockDelta(2, '{"x": 1}'),
        BlockEnd(2, gemini_meta),
        BlockStart(3, Media("image/png", data="iVBORw0KGgo=")),
        BlockEnd(3),
        Finish("tool_use", Usage(input_tokens=3, output_tokens=5, reasoning_tokens=2)),
    ]
    original = accumulate(events).response
    again = accumulate(decode(encode(events))).response
    assert again.parts == [
        Reasoning("hmm", {"anthropic": {"signature": "abc"}}),
        Text("answer", meta=gemini_meta),
        ToolCall("c1", "f", '{"x":1}', meta=gemini_meta),
        Media("image/png", data="iVBORw0KGgo="),
    ]
    assert (again.stop_reason, again.usage) == (original.stop_reason, original.usage)


@pytest.mark.parametrize(
    "name", sorted(set(EXPECTED) - {"stream-vertex-partial-args-parallel.sse"})
)
def test_fixture_reencoded_reads_the_same_in_the_sdk(name: str) -> None:
    data = fixture(name)
    original = sdk_view(sdk_chunks(data)) if name.endswith(".sse") else None
    reencoded = sdk_view(sdk_chunks(encode(decode(data))))
    if original is not None:
        assert {k: v for k, v in reencoded.items() if k != "calls"} == {
            k: v for k, v in original.items() if k != "calls"
        }
        assert [c[1:] for c in reencoded["calls"]] == [c[1:] for c in original["calls"]]
    assert reencoded["finish"] == "STOP" or reencoded["finish"] == "MAX_TOKENS"


def test_error_mid_stream_raises_in_the_sdk_after_the_text() -> None:
    events: list[StreamEvent] = [
        StreamStart("r", "m"),
        BlockStart(0, Text("")),
        BlockDelta(0, "partial answer"),
        StreamError(ErrorInfo(503, "overloaded", "upstream overloaded")),
    ]
    data = encode(events)
    seen: list[str] = []
    with pytest.raises(APIError) as exc:
        for chunk in client(data, piece=5).models.generate_content_stream(model="m", contents="hi"):
            seen.append(chunk.text or "")
    assert seen == ["partial answer"]
    assert (exc.value.code, exc.value.status, exc.value.message) == (
        503,
        "UNAVAILABLE",
        "upstream overloaded",
    )
    assert decode(data)[-1] == StreamError(
        ErrorInfo(503, "overloaded", "upstream overloaded", code="UNAVAILABLE")
    )


@pytest.mark.parametrize("sse", [True, False])
def test_error_before_anything_else(sse: bool) -> None:
    data = encode([StreamError(ErrorInfo(401, "authentication", "no key"))], sse=sse)
    events = decode(data)
    assert events == [
        StreamError(ErrorInfo(401, "authentication", "no key", code="UNAUTHENTICATED"))
    ]
    if sse:
        with pytest.raises(APIError):
            sdk_chunks(data)


def test_events_after_the_end_are_ignored() -> None:
    encoder = FORMAT.stream_encoder(counting_env(), model="m")
    encoder.feed(Finish("stop"))
    assert encoder.feed(BlockStart(0, Text(""))) == b""
    assert encoder.feed(StreamError(ErrorInfo(500, "server", "late"))) == b""


def test_ping_is_harmless_to_the_sdk() -> None:
    encoder = FORMAT.stream_encoder(counting_env(), model="m")
    data = encoder.ping()
    for event in TOOL_TURN:
        data += encoder.feed(event) + encoder.ping()
    data += encoder.finish()
    view = sdk_view(sdk_chunks(data, piece=3))
    assert view["calls"][1][1:] == ("get_weather", {"city": "Rome"})
    assert _summary(decode(data)) == _summary(decode(encode(TOOL_TURN)))
    array = FORMAT.stream_encoder(counting_env(), model="m", sse=False)
    assert array.ping() == b""


def test_invalid_or_freeform_arguments_still_give_an_object() -> None:
    events: list[StreamEvent] = [
        StreamStart("r", "m"),
        BlockStart(0, ToolCall("c1", "apply_patch", kind="custom")),
        BlockDelta(0, "*** Begin Patch"),
        BlockEnd(0),
        BlockStart(1, ToolCall("c2", "f")),
        BlockDelta(1, '{"cut": '),
        BlockEnd(1),
        Finish("tool_use"),
    ]
    calls = sdk_view(sdk_chunks(encode(events)))["calls"]
    assert calls == [
        ("c1", "apply_patch", {"input": "*** Begin Patch"}),
        ("c2", "f", {"_raw_arguments": '{"cut": '}),
    ]


# ------------------------------------------------------------ array splitter

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='{}[]",\\ \n\tab日"\\'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='{}"\\ab'), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    elements=st.lists(st.dictionaries(st.text(max_size=3), _json_values, max_size=3), max_size=4),
    indent=st.sampled_from([None, 2]),
    data=st.data(),
)
def test_array_splitter_finds_exactly_the_elements(
    elements: list[dict[str, Any]], indent: int | None, data: st.DataObject
) -> None:
    raw = json.dumps(elements, indent=indent, ensure_ascii=False).encode()
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(raw)), max_size=20))))
    splitter = JsonObjectSplitter()
    found: list[bytes] = []
    start = 0
    for end in [*cuts, len(raw)]:
        found += splitter.feed(raw[start:end])
        start = end
    assert [json.loads(f) for f in found] == elements


def test_foreign_thinking_survives_a_gemini_cli_round_trip() -> None:
    """Claude's signed thinking, streamed to a Gemini client that keeps only
    the functionCall part (as Gemini CLI does), comes back intact."""
    chunks = [json.loads(f[6:]) for f in encode(TOOL_TURN).split(b"\r\n\r\n") if f]
    call_parts = [
        part
        for chunk in chunks
        for part in chunk["candidates"][0]["content"]["parts"]
        if "functionCall" in part
    ]
    history = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": call_parts},
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": p["functionCall"]["id"],
                            "name": "get_weather",
                            "response": {"output": "ok"},
                        }
                    }
                    for p in call_parts
                ],
            },
        ]
    }
    model_turn = FORMAT.parse_request(history, model="m").messages[1]
    assert model_turn.parts[0] == Reasoning("Let me check.", {"anthropic": {"signature": "EqQB"}})
    assert [p.id for p in model_turn.parts[1:] if isinstance(p, ToolCall)] == ["toolu_a", "toolu_b"]
