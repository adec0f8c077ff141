"""A Chat Completions stream that ends with ``data: [DONE]`` but never sets
``finish_reason`` (Snowflake Cortex, some OpenRouter upstreams) is complete:
every client gets its text, tool calls, an inferred stop and the usage, read
by the client's own SDK, however the bytes are split. Only a body that ends
with neither ``[DONE]`` nor a finish reason is a cut stream."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    FORMAT_NAMES,
    Finish,
    StreamError,
    Text,
    ToolCall,
    Usage,
    counting_env,
)
from openai_chat_helpers import accumulate, assert_well_formed, decode, sse
from sdk_judge import STREAM_JUDGES
from stream_strategies import Turn, chat_streams
from streamkit import pieces

USAGE = {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}


def cortex_chunk(delta: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A chunk as these upstreams send it: no ``finish_reason`` key at all."""
    choices = [] if delta is None else [{"index": 0, "delta": delta}]
    return {
        "id": "d8f1a3c0",
        "object": "chat.completion.chunk",
        "created": 1765100000,
        "model": "claude-3-5-sonnet",
        "choices": choices,
        **extra,
    }


def _tool(index: int, call_id: str, name: str, args: str) -> dict[str, Any]:
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": args},
    }


def text_stream(done: bool = True) -> bytes:
    return sse(
        cortex_chunk({"role": "assistant", "content": "The capital "}),
        cortex_chunk({"content": "of France is Paris."}),
        cortex_chunk(None, usage=USAGE),
        done=done,
    )


def tool_stream(done: bool = True) -> bytes:
    return sse(
        cortex_chunk({"role": "assistant", "content": "Checking both."}),
        cortex_chunk({"tool_calls": [_tool(0, "call_w1", "get_weather", "")]}),
        cortex_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        cortex_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        cortex_chunk({"tool_calls": [_tool(1, "call_t2", "get_time", '{"tz": "CET"}')]}),
        # usage riding on the last content chunk (finish_reason null, as some send it)
        {**cortex_chunk({"content": None}), "usage": USAGE},
        done=done,
    )


TEXT = ("The capital of France is Paris.", [], "stop")
TOOLS = (
    "Checking both.",
    [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})],
    "tool_use",
)
CASES = {"text": (text_stream, TEXT), "tools": (tool_stream, TOOLS)}
SPLITS = [("whole", 0), ("bytes", 0), *(("random", seed) for seed in range(4))]


def translate(client: str, chunks: list[bytes]) -> tuple[StreamTranslator, bytes]:
    translator = StreamTranslator(
        get_format("openai-chat"), get_format(client), counting_env(), model="test-model"
    )
    out = b"".join(translator.feed(c) for c in chunks) + translator.finish()
    return translator, out


# ------------------------------------------------------------------ decoder


def test_done_without_finish_reason_infers_a_tool_stop_and_keeps_usage() -> None:
    events = decode([tool_stream()])
    assert_well_formed(events)
    assert events[-1] == Finish("tool_use", Usage(21, 9))
    acc = accumulate(events)
    assert acc.error is None
    assert acc.response.parts == [
        Text("Checking both."),
        ToolCall("call_w1", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_t2", "get_time", '{"tz": "CET"}'),
    ]


def test_done_without_finish_reason_infers_a_plain_stop() -> None:
    events = decode([text_stream()])
    assert events[-1] == Finish("stop", Usage(21, 9))


@pytest.mark.parametrize("mode", ["whole", "bytes", "random"])
def test_done_without_finish_reason_is_the_same_however_split(mode: str) -> None:
    data = tool_stream()
    whole = decode([data])
    for seed in range(3):
        assert decode(pieces(data, mode, seed)) == whole


@pytest.mark.parametrize("make", [text_stream, tool_stream], ids=["text", "tools"])
def test_neither_done_nor_finish_reason_is_still_a_cut(make: Any) -> None:
    events = decode([make(done=False)])
    assert_well_formed(events)
    assert isinstance(events[-1], StreamError) and events[-1].error.status == 502


def test_done_before_any_chunk_is_still_not_an_answer() -> None:
    events = decode([b"data: [DONE]\n\n"])
    assert len(events) == 1 and isinstance(events[0], StreamError)


# ------------------------------------------------------ every client's SDK


@pytest.mark.parametrize("client", FORMAT_NAMES)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("mode", "seed"), SPLITS)
def test_every_client_reads_a_complete_answer(client: str, case: str, mode: str, seed: int) -> None:
    make, (text, calls, stop) = CASES[case]
    data = make()
    translator, out = translate(client, pieces(data, mode, seed))
    assert translator.error is None
    assert translator.stop_reason == stop
    assert translator.usage == Usage(21, 9)
    if translator.passthrough:
        assert out == data  # a Chat client gets the provider's own bytes, nothing appended
    else:
        assert out == translate(client, [data])[1]
    got = STREAM_JUDGES[client](out)
    assert got.error is None, got.error
    assert (got.text, got.tool_calls) == (text, calls)
    if client != "openai-chat":  # a Chat client sees the provider's (absent) finish_reason
        assert got.stop == stop
    assert got.usage is not None
    assert (got.usage["input_tokens"], got.usage["output_tokens"]) == (21, 9)


@pytest.mark.parametrize("client", FORMAT_NAMES)
def test_every_client_still_hears_of_a_cut_stream(client: str) -> None:
    for mode, seed in SPLITS[:3]:
        translator, out = translate(client, pieces(tool_stream(done=False), mode, seed))
        assert translator.error is not None and translator.error.status == 502
        got = STREAM_JUDGES[client](out)
        assert got.error is not None and "ended before completion" in got.error


# ------------------------------------------------------ generated streams


@pytest.mark.parametrize("client", [c for c in FORMAT_NAMES if c != "openai-chat"])
def test_generated_streams_without_finish_reason_reach_every_client_whole(client: str) -> None:
    """Unusual but legal Chat streams (stream_strategies) with every
    ``finish_reason`` taken out: each client's SDK reads the calls, text,
    reasoning, inferred stop and usage, however the bytes are split."""

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(chat_streams(), st.integers(0, 2**16))
    def check(drawn: tuple[Turn, bytes], seed: int) -> None:
        turn, data = drawn
        for reason in (b"tool_calls", b"stop"):
            data = data.replace(b'"finish_reason": "' + reason + b'"', b'"finish_reason": null')
        assert b'"finish_reason": "' not in data
        whole = translate(client, [data])[1]
        translator, out = translate(client, pieces(data, "random", seed))
        assert out == whole and translator.error is None
        got = STREAM_JUDGES[client](out)
        assert got.error is None, got.error
        assert got.tool_calls == [(c.name, c.args) for c in turn.calls]
        want = STREAM_JUDGES["openai-chat"](data)  # what the source's SDK reads
        assert (got.text, got.reasoning) == (want.text, want.reasoning)
        assert got.stop == ("tool_use" if turn.calls else "stop")
        assert got.usage is not None
        assert (got.usage["input_tokens"], got.usage["output_tokens"]) == turn.usage

    check()
