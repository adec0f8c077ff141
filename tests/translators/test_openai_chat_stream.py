"""openai-chat stream decoding: recorded and hand-made provider streams."""

from __future__ import annotations

from pathlib import Path

import pytest
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    Finish,
    Part,
    Reasoning,
    Refusal,
    StopReason,
    StreamError,
    StreamStart,
    Text,
    ToolCall,
    Usage,
    counting_env,
)
from omniroute_mitm.translators.openai_chat import FORMAT
from openai_chat_helpers import (
    accumulate,
    assert_well_formed,
    chunk,
    decode,
    encode,
    pieces,
    sdk_final_completion,
    sse,
)

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


def _call(index: int, call_id: str | None = None, name: str = "", args: str = "") -> dict:
    call: dict = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return call


def test_interleaved_parallel_call_fragments_keep_every_calls_arguments() -> None:
    """Call 0's header, call 1's header, then fragments alternating by index:
    every call arrives whole, in index order, with its own arguments."""
    data = sse(
        chunk({"role": "assistant", "tool_calls": [_call(0, "a", "get_weather")]}),
        chunk({"tool_calls": [_call(1, "b", "get_time")]}),
        chunk({"tool_calls": [_call(0, args='{"city"')]}),
        chunk({"tool_calls": [_call(1, args='{"tz": ')]}),
        chunk({"tool_calls": [_call(0, args=': "Paris"}')]}),
        chunk({"tool_calls": [_call(1, args='"CET"}')]}),
        chunk({}, "tool_calls"),
    )
    for mode in ("whole", "bytes"):
        events = decode(pieces(data, mode))
        assert_well_formed(events)
        acc = accumulate(events)
        assert acc.response.parts == [
            ToolCall("a", "get_weather", '{"city": "Paris"}'),
            ToolCall("b", "get_time", '{"tz": "CET"}'),
        ]
        assert acc.response.stop_reason == "tool_use"


def test_interleaved_calls_in_one_delta_and_the_first_call_still_streams() -> None:
    data = sse(
        chunk({"tool_calls": [_call(0, "a", "f", '{"n":'), _call(1, "b", "g", '{"m":')]}),
        chunk({"tool_calls": [_call(1, args="2}"), _call(0, args=" 1")]}),
        chunk({"tool_calls": [_call(0, args="}")]}),
        chunk({}, "tool_calls"),
    )
    events = decode([data])
    assert_well_formed(events)
    assert accumulate(events).response.parts == [
        ToolCall("a", "f", '{"n": 1}'),
        ToolCall("b", "g", '{"m":2}'),
    ]
    # call 0's fragments are not held back: each one is its own delta
    assert [e.text for e in events if isinstance(e, BlockDelta) and e.index == 0] == [
        '{"n":',
        " 1",
        "}",
    ]


def test_sequential_calls_stream_each_fragment_as_it_comes() -> None:
    chunks = [
        sse(chunk({"tool_calls": [_call(0, "a", "f", '{"n"')]}), done=False),
        sse(chunk({"tool_calls": [_call(0, args=":1}")]}), done=False),
        sse(chunk({"tool_calls": [_call(1, "b", "f", '{"n"')]}), done=False),
        sse(chunk({"tool_calls": [_call(1, args=":2}")]}), done=False),
        sse(chunk({}, "tool_calls")),
    ]
    decoder = FORMAT.stream_decoder(counting_env())
    per_chunk = [decoder.feed(c) for c in chunks]
    # every fragment of call 1 comes out of the chunk that carried it
    deltas = [[e.text for e in evs if isinstance(e, BlockDelta)] for evs in per_chunk]
    assert deltas[2] == ['{"n"'] and deltas[3] == [":2}"]
