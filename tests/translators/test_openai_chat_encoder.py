"""openai-chat stream encoding, judged by the openai SDK's own stream accumulator."""

from __future__ import annotations

import json
import time

import openai
import pytest
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Env,
    ErrorInfo,
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
    counting_env,
)
from omniroute_mitm.translators.openai_chat import FORMAT
from openai_chat_helpers import (
    accumulate,
    chunk,
    decode,
    encode,
    sdk_client,
    sdk_final_completion,
    sse,
)

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

    error = StreamError(ErrorInfo(529, "overloaded", "Overloaded"))
    events: list[StreamEvent] = (
        [error] if before_start else [*events_for([Text("partial")], "stop")[:-2], error]
    )
    with pytest.raises(openai.APIError, match="Overloaded"):
        sdk_final_completion(encode(events))


def test_pings_are_invisible_to_the_sdk() -> None:

    encoder = FORMAT.stream_encoder(counting_env(), model="client-model")
    data = b"".join(encoder.feed(e) + encoder.ping() for e in events_for([Text("pinged")], "stop"))
    assert sdk_final_completion(data + encoder.finish()).choices[0].message.content == "pinged"


def test_custom_tool_calls_stream_in_openais_shape() -> None:
    """The SDK's stream helper cannot finalize custom calls (openai-python
    #2530), so its raw chunk stream is the judge here."""

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


def test_cpu_per_chunk_stays_small() -> None:
    """The budget is ~50 us per chunk for decoding plus encoding; this bound
    is loose so that a busy machine does not fail it."""

    line = sse(chunk({"content": " word"}, obfuscation="abcdef", usage=None), done=False)
    data = [line] * 3000 + [sse(chunk({}, "stop"), chunk(None, usage={"prompt_tokens": 1}))]
    start = time.process_time()
    events = decode(data, Env())
    encode(events, Env())
    per_chunk = (time.process_time() - start) / len(data)
    assert per_chunk < 150e-6
