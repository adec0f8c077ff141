"""openai-chat streams: recorded bytes through the decoder, and the encoder
judged by the openai SDK's own stream accumulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai_chat_helpers import accumulate, decode, encode, pieces, sdk_final_completion

from translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Finish,
    Part,
    Reasoning,
    Refusal,
    StopReason,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    Usage,
)


def assert_well_formed(events: list[StreamEvent]) -> None:
    """StreamStart first; blocks with increasing indexes, one open at a time;
    exactly one terminal event (Finish or StreamError) at the end."""
    assert isinstance(events[0], StreamStart | StreamError)
    open_index: int | None = None
    next_index = 0
    for event in events[:-1]:
        assert not isinstance(event, Finish | StreamError)
        if isinstance(event, BlockStart):
            assert open_index is None and event.index == next_index
            open_index, next_index = event.index, next_index + 1
        elif isinstance(event, BlockDelta):
            assert event.index == open_index
        elif isinstance(event, BlockEnd):
            assert event.index == open_index
            open_index = None
    assert open_index is None
    assert isinstance(events[-1], Finish | StreamError)


def sse(*chunks: Any, done: bool = True) -> bytes:
    body = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "choices": choices,
        **extra,
    }


# --------------------------------------------------------- recorded streams

FIXTURES: list[tuple[str, list[Part], StopReason, Usage | None]] = [
    ("stream-text-include-usage.sse", [Text("4200 + 42 equals 4242.")], "stop", Usage(16, 10)),
    (
        "stream-tool-call-single.sse",
        [ToolCall("call_1EYWDzueHEp8OsB8jJSEp7WB", "multiply", '{"a":1231,"b":2331}')],
        "tool_use",
        Usage(54, 20),
    ),
    (
        "stream-tool-calls-parallel.sse",
        [
            ToolCall(
                "call_M26z19sncd7b4LBgzKRRbaUE", "secret_retrieval_tool", '{"password": "mellon"}'
            ),
            ToolCall(
                "call_KPXe5NX7IcKkaBUhc6dto2QV", "secret_retrieval_tool", '{"password": "radiance"}'
            ),
        ],
        "tool_use",
        Usage(75, 53),
    ),
    (
        "stream-tool-calls-parallel-no-usage.sse",
        [
            ToolCall(
                "call_cCPjAyfwTzboEKjVlqFrArNF",
                "get_current_weather",
                '{"location": "San Francisco"}',
            ),
            ToolCall(
                "call_Zi4He1Ns0mozwT6f85nW1BOW", "get_current_weather", '{"location": "Boston"}'
            ),
        ],
        "tool_use",
        None,
    ),
    (
        "stream-refusal.sse",
        [Refusal("I'm very sorry, but I can't assist with that request.")],
        "refusal",
        Usage(64, 13),
    ),
    ("stream-length-reasoning-tokens.sse", [], "length", Usage(13, 50, reasoning_tokens=50)),
]


@pytest.mark.parametrize(("name", "parts", "stop", "usage"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_recorded_stream_decodes_identically_however_it_is_split(
    fixtures_dir: Path, name: str, parts: list[Part], stop: StopReason, usage: Usage | None
) -> None:
    data = (fixtures_dir / "openai-chat" / name).read_bytes()
    whole = decode(pieces(data, "whole"))
    assert decode(pieces(data, "bytes")) == whole
    for seed in range(5):
        assert decode(pieces(data, "random", seed)) == whole
    assert_well_formed(whole)
    acc = accumulate(whole)
    assert acc.error is None and acc.finished
    assert acc.response.parts == parts
    assert acc.response.stop_reason == stop
    assert acc.response.usage == usage
    assert acc.response.id.startswith("chatcmpl-") and acc.response.model.startswith("gpt-")


def test_recorded_length_stream_keeps_the_cut_text(fixtures_dir: Path) -> None:
    acc = accumulate(decode([(fixtures_dir / "openai-chat" / "stream-length.sse").read_bytes()]))
    assert acc.response.stop_reason == "length" and acc.response.usage == Usage(14, 50)
    assert isinstance(acc.response.parts[0], Text) and acc.response.parts[0].text.endswith(
        "9. Florida\n10"
    )


@pytest.mark.parametrize("name", [f[0] for f in FIXTURES] + ["stream-length.sse"])
def test_recorded_stream_re_encoded_is_what_the_sdk_saw_originally(
    fixtures_dir: Path, name: str
) -> None:
    data = (fixtures_dir / "openai-chat" / name).read_bytes()
    original = sdk_final_completion(data).choices[0]
    again = sdk_final_completion(encode(decode([data]))).choices[0]
    assert again.message.content == original.message.content
    assert again.message.refusal == original.message.refusal
    assert again.finish_reason == original.finish_reason
    calls = [
        (c.id, c.function.name, c.function.arguments) for c in original.message.tool_calls or []
    ]
    assert [
        (c.id, c.function.name, c.function.arguments) for c in again.message.tool_calls or []
    ] == calls


# ------------------------------------------------------ provider variations


def test_deepseek_reasoning_then_text_then_tool_call() -> None:
    data = sse(
        chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        chunk({"reasoning_content": "Let me "}),
        chunk({"reasoning_content": "think."}),
        chunk({"content": "Calling."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_0",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}),
        chunk(
            {},
            "tool_calls",
            usage={
                "prompt_tokens": 9,
                "completion_tokens": 7,
                "prompt_cache_hit_tokens": 4,
                "completion_tokens_details": {"reasoning_tokens": 3},
            },
        ),
    )
    events = decode([data])
    assert_well_formed(events)
    acc = accumulate(events)
    assert acc.response.parts == [
        Reasoning("Let me think.", meta={"openai-chat": {}}),
        Text("Calling."),
        ToolCall("call_0", "f", '{"x": 1}'),
    ]
    assert acc.response.usage == Usage(9, 7, cache_read_tokens=4, reasoning_tokens=3)


def test_reasoning_field_variant_and_groq_usage() -> None:
    data = sse(
        chunk({"role": "assistant", "reasoning": "hm"}),
        chunk({"content": "ok"}, "stop"),
        chunk(None, x_groq={"usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
    )
    acc = accumulate(decode([data]))
    assert acc.response.parts == [
        Reasoning("hm", meta={"openai-chat": {"field": "reasoning"}}),
        Text("ok"),
    ]
    assert acc.response.usage == Usage(3, 2)


def test_content_and_finish_reason_in_one_chunk_yield_both() -> None:
    acc = accumulate(decode([sse(chunk({"role": "assistant", "content": "all at once"}, "stop"))]))
    assert acc.response.parts == [Text("all at once")] and acc.response.stop_reason == "stop"


def test_several_complete_tool_calls_in_one_chunk_stay_separate() -> None:
    calls = [
        {
            "index": 0,
            "id": "a",
            "type": "function",
            "function": {"name": "f", "arguments": '{"n":1}'},
        },
        {
            "index": 1,
            "id": "b",
            "type": "function",
            "function": {"name": "f", "arguments": '{"n":2}'},
        },
    ]
    events = decode([sse(chunk({"role": "assistant", "tool_calls": calls}), chunk({}, "stop"))])
    assert_well_formed(events)
    acc = accumulate(events)
    assert acc.response.parts == [ToolCall("a", "f", '{"n":1}'), ToolCall("b", "f", '{"n":2}')]
    assert acc.response.stop_reason == "tool_use"  # "stop" after calls still means: run them


def test_parallel_calls_reusing_index_zero_are_not_merged() -> None:
    data = sse(
        chunk(
            {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}
        ),
        chunk(
            {"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}
        ),
        chunk({}, "tool_calls"),
    )
    acc = accumulate(decode([data]))
    assert acc.response.parts == [ToolCall("a", "f", "{}"), ToolCall("b", "g", "{}")]


def test_tool_call_without_id_or_index_gets_a_generated_id() -> None:
    data = sse(
        chunk({"tool_calls": [{"function": {"name": "f", "arguments": '{"a"'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
        chunk({}, "tool_calls"),
    )
    acc = accumulate(decode([data]))
    assert acc.response.parts == [ToolCall("call_1", "f", '{"a": 1}')]


def test_custom_tool_call_deltas() -> None:
    data = sse(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "c", "type": "custom", "custom": {"name": "sh", "input": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "type": "custom", "custom": {"input": "ls "}}]}),
        chunk({"tool_calls": [{"index": 0, "type": "custom", "custom": {"input": "-la"}}]}),
        chunk({}, "tool_calls"),
    )
    acc = accumulate(decode([data]))
    assert acc.response.parts == [ToolCall("c", "sh", "ls -la", kind="custom")]


def test_error_payload_mid_stream_closes_the_block_and_fails() -> None:
    data = sse(
        chunk({"role": "assistant", "content": "par"}),
        {
            "error": {
                "message": "The server had an error",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
        chunk({"content": "ignored"}),
    )
    events = decode([data])
    assert_well_formed(events)
    assert isinstance(events[-2], BlockEnd)
    assert events[-1] == StreamError(events[-1].error)  # type: ignore[union-attr]
    error = events[-1].error  # type: ignore[union-attr]
    assert (error.status, error.kind, error.message) == (500, "server", "The server had an error")


def test_vllm_error_with_numeric_code() -> None:
    events = decode(
        [
            sse(
                {
                    "error": {
                        "object": "error",
                        "message": "too long",
                        "type": "BadRequestError",
                        "code": 400,
                    }
                }
            )
        ]
    )
    assert len(events) == 1 and isinstance(events[0], StreamError)
    assert (events[0].error.status, events[0].error.kind) == (400, "invalid_request")


@pytest.mark.parametrize(
    "data",
    [
        sse(chunk({"role": "assistant", "content": "cut"}), done=False),
        sse(chunk({"role": "assistant", "content": "cut"})),  # [DONE] without finish_reason
        b'data: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "half"',
        b"",
    ],
)
def test_a_cut_stream_is_an_error_never_a_silent_end(data: bytes) -> None:
    events = decode([data])
    assert_well_formed(events)
    assert isinstance(events[-1], StreamError) and events[-1].error.status == 502


def test_finish_without_usage_or_done_still_completes() -> None:
    events = decode([sse(chunk({"content": "hi"}), chunk({}, "length"), done=False)])
    assert events[-1] == Finish("length", None)


def test_usage_chunk_ends_the_stream_even_before_done() -> None:
    decoder_events = decode(
        [
            sse(
                chunk({"content": "x"}),
                chunk({}, "stop"),
                chunk(None, usage={"prompt_tokens": 1}),
                done=False,
            )
        ]
    )
    assert decoder_events[-1] == Finish("stop", Usage(1, 0))


def test_noise_is_ignored() -> None:
    data = (
        b": keep-alive\n\n"
        + sse(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [],
            },
            done=False,
        )
        + sse(
            chunk({"role": "assistant", "content": ""}, obfuscation="x", usage=None),
            chunk({"content": "hi"}, logprobs=None),
            chunk({}, "stop"),
        )
    )
    events = decode([data])
    assert events[0] == StreamStart("c1", "m", created=5)
    assert accumulate(events).response.parts == [Text("hi")]


# ------------------------------------------------------------------ encoder


DEFAULT_USAGE = Usage(10, 5)


def events_for(
    parts: list[Part], stop: StopReason, usage: Usage | None = DEFAULT_USAGE
) -> list[StreamEvent]:
    events: list[StreamEvent] = [StreamStart("upstream-id", "upstream-model")]
    for index, part in enumerate(parts):
        if isinstance(part, ToolCall):
            events.append(BlockStart(index, ToolCall(part.id, part.name, kind=part.kind)))
            body = part.arguments
        else:
            events.append(BlockStart(index, type(part)("")))  # type: ignore[call-arg]
            body = part.text  # type: ignore[union-attr]
        events.extend(BlockDelta(index, body[i : i + 3]) for i in range(0, len(body), 3))
        events.append(BlockEnd(index))
    events.append(Finish(stop, usage))
    return events


ENCODER_CASES: list[tuple[list[Part], StopReason, str]] = [
    ([Text("Hello there, world")], "stop", "stop"),
    ([Reasoning("pondering"), Text("answer")], "stop", "stop"),
    (
        [
            Text("I'll check."),
            ToolCall("toolu_1", "get", '{"city": "Paris"}'),
            ToolCall("toolu_2", "get", '{"city": "Rome"}'),
            ToolCall("toolu_3", "now", ""),
        ],
        "tool_use",
        "tool_calls",
    ),
    ([Refusal("I can't help with that.")], "refusal", "stop"),
    ([Text("trunc")], "length", "length"),
    ([Text("matched")], "stop_sequence", "stop"),
    ([ToolCall("fc_1", "f", '{"a": [1, 2]}')], "stop", "tool_calls"),
    ([], "content_filter", "content_filter"),
    ([Text("Here is how to")], "refusal", "content_filter"),  # Anthropic's classifier stop
]


@pytest.mark.parametrize(("parts", "stop", "finish"), ENCODER_CASES)
def test_sdk_accumulates_encoder_output(parts: list[Part], stop: StopReason, finish: str) -> None:
    data = encode(
        events_for(parts, stop, Usage(120, 40, cache_read_tokens=100, reasoning_tokens=7))
    )
    completion = sdk_final_completion(data)
    choice = completion.choices[0]
    texts = "".join(p.text for p in parts if isinstance(p, Text))
    assert (choice.message.content or "") == texts
    assert choice.message.refusal == (
        "".join(p.text for p in parts if isinstance(p, Refusal)) or None
    )
    assert choice.finish_reason == finish
    calls = [p for p in parts if isinstance(p, ToolCall)]
    got = choice.message.tool_calls or []
    assert [(c.id, c.function.name) for c in got] == [(c.id, c.name) for c in calls]  # type: ignore[union-attr]
    assert [json.loads(c.function.arguments) for c in got] == [  # type: ignore[union-attr]
        json.loads(c.arguments or "{}") for c in calls
    ]
    if calls or any(isinstance(p, Refusal) for p in parts):
        assert choice.message.content is None or texts  # OpenAI's null, not ""
    reasoning = "".join(p.text for p in parts if isinstance(p, Reasoning))
    assert getattr(choice.message, "reasoning_content", None) == (reasoning or None)
    assert completion.model == "client-model"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 40)
    assert completion.usage.prompt_tokens_details.cached_tokens == 100  # type: ignore[union-attr]
    assert completion.usage.completion_tokens_details.reasoning_tokens == 7  # type: ignore[union-attr]


def test_encoder_frames_like_openai() -> None:
    data = encode(events_for([Text("hi")], "stop"))
    frames = data.split(b"\n\n")
    assert frames[-2:] == [b"data: [DONE]", b""]
    chunks = [json.loads(f[6:]) for f in frames[:-2]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and {c["model"] for c in chunks} == {
        "client-model"
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 15


def test_tool_call_indexes_are_distinct_and_zero_based() -> None:
    parts: list[Part] = [ToolCall(f"t{i}", "f", "{}") for i in range(3)]
    data = encode(events_for(parts, "tool_use"))
    indexes = [
        call["index"]
        for line in data.split(b"\n\n")
        if line.startswith(b"data: {")
        for choice in json.loads(line[6:])["choices"]
        for call in choice["delta"].get("tool_calls", [])
        if "id" in call
    ]
    assert indexes == [0, 1, 2]


@pytest.mark.parametrize("before_start", [True, False])
def test_sdk_raises_on_a_stream_error(before_start: bool) -> None:
    import openai

    from translators.canonical import ErrorInfo

    error = StreamError(ErrorInfo(529, "overloaded", "Overloaded"))
    events: list[StreamEvent] = (
        [error] if before_start else [*events_for([Text("partial")], "stop")[:-2], error]
    )
    with pytest.raises(openai.APIError, match="Overloaded"):
        sdk_final_completion(encode(events))


def test_pings_are_invisible_to_the_sdk() -> None:
    from translators.canonical import counting_env
    from translators.openai_chat import FORMAT

    encoder = FORMAT.stream_encoder(counting_env(), model="client-model")
    data = b"".join(encoder.feed(e) + encoder.ping() for e in events_for([Text("pinged")], "stop"))
    assert sdk_final_completion(data + encoder.finish()).choices[0].message.content == "pinged"


def test_custom_tool_calls_stream_in_openais_shape() -> None:
    """The SDK's stream helper cannot finalize custom calls (openai-python
    #2530), so its raw chunk stream is the judge here."""
    from openai_chat_helpers import sdk_client

    data = encode(
        events_for([ToolCall("c1", "apply_patch", "*** Begin Patch", kind="custom")], "tool_use")
    )
    client = sdk_client(data)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    deltas = [
        c.choices[0].delta.tool_calls for c in stream if c.choices and c.choices[0].delta.tool_calls
    ]
    first = deltas[0][0]  # type: ignore[index]
    assert (first.index, first.id, first.type) == (0, "c1", "custom")
    text = "".join(d[0].custom["input"] for d in deltas)  # type: ignore[attr-defined,index]
    assert text == "*** Begin Patch"
    assert accumulate(decode([data])).response.parts == [
        ToolCall("c1", "apply_patch", "*** Begin Patch", kind="custom")
    ]


def as_chat_says(part: Part) -> Part:
    """What a part looks like after a trip through a chat stream."""
    if isinstance(part, Reasoning):
        return Reasoning(part.text, meta={"openai-chat": {}})
    if isinstance(part, ToolCall) and not part.arguments:
        return ToolCall(part.id, part.name, "{}")  # clients json.loads the arguments
    return part


@pytest.mark.parametrize(("parts", "stop", "finish"), ENCODER_CASES)
def test_encode_then_decode_gives_the_same_answer(
    parts: list[Part], stop: StopReason, finish: str
) -> None:
    events = events_for(parts, stop, Usage(7, 3, cache_read_tokens=2, reasoning_tokens=1))
    back = accumulate(decode([encode(events)])).response
    assert back.parts == [as_chat_says(p) for p in parts]
    assert back.usage == Usage(7, 3, cache_read_tokens=2, reasoning_tokens=1)
    refused = any(isinstance(p, Refusal) for p in parts)
    said = {
        "stop": "stop",
        "tool_calls": "tool_use",
        "length": "length",
        "content_filter": "content_filter",
    }
    assert back.stop_reason == ("refusal" if refused else said[finish])


def test_events_after_the_end_are_not_written() -> None:
    events = events_for([Text("x")], "stop")
    data = encode([*events, BlockStart(9, Text("")), BlockDelta(9, "late")])
    assert b"late" not in data and data.endswith(b"data: [DONE]\n\n")


def test_only_choice_zero_is_read() -> None:
    data = sse(
        {
            "id": "c",
            "choices": [
                {"index": 1, "delta": {"content": "other"}},
                {"index": 0, "delta": {"content": "mine"}},
            ],
        },
        chunk({}, "stop"),
    )
    assert accumulate(decode([data])).response.parts == [Text("mine")]


def test_cpu_per_chunk_stays_small() -> None:
    """The budget is ~50 us per chunk for decoding plus encoding; this bound
    is loose so that a busy machine does not fail it."""
    import time

    from translators.canonical import Env

    line = sse(chunk({"content": " word"}, obfuscation="abcdef", usage=None), done=False)
    data = [line] * 3000 + [sse(chunk({}, "stop"), chunk(None, usage={"prompt_tokens": 1}))]
    start = time.process_time()
    events = decode(data, Env())
    encode(events, Env())
    per_chunk = (time.process_time() - start) / len(data)
    assert per_chunk < 150e-6
