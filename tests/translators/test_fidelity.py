"""Issue-7 classes of provider streams, translated into every client format and
judged by the client's own SDK: every call whole with its own arguments, the
text, the stop class and the usage the source had."""

from __future__ import annotations

import pytest
from openai_chat_helpers import chunk, sse
from sdk_judge import STREAM_JUDGES, Summary

from translators import StreamTranslator, get_format
from translators.canonical import FORMAT_NAMES, counting_env


def translate(source: str, client: str, data: bytes, step: int = 0) -> bytes:
    translator = StreamTranslator(
        get_format(source), get_format(client), counting_env(), model="test-model"
    )
    pieces = [data] if not step else [data[i : i + step] for i in range(0, len(data), step)]
    return b"".join(translator.feed(p) for p in pieces) + translator.finish()


def assert_same(got: Summary, want: Summary, *formats: str) -> None:
    got, want = got.comparable(*formats), want.comparable(*formats)
    assert got.error is None, got.error
    assert (got.text, got.tool_calls, got.stop) == (want.text, want.tool_calls, want.stop)
    assert got.reasoning == want.reasoning
    if want.usage:
        assert got.usage == want.usage


def assert_everywhere(source: str, data: bytes) -> Summary:
    want = STREAM_JUDGES[source](data)
    assert want.error is None, want.error
    for client in FORMAT_NAMES:
        if client != source:
            for step in (0, 7):
                assert_same(
                    STREAM_JUDGES[client](translate(source, client, data, step)),
                    want,
                    source,
                    client,
                )
    return want


def _call(index: int, call_id: str | None = None, name: str = "", args: str = "") -> dict:
    call: dict = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return call


@pytest.mark.parametrize("one_chunk", [False, True])
def test_interleaved_parallel_calls_reach_every_client_whole(one_chunk: bool) -> None:
    deltas = [
        [_call(0, "call_a", "get_weather"), _call(1, "call_b", "get_time")],
        [_call(0, args='{"city"')],
        [_call(1, args='{"tz": ')],
        [_call(0, args=': "Paris"}')],
        [_call(1, args='"CET"}')],
    ]
    if one_chunk:
        deltas = [[call for delta in deltas for call in delta]]
    usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    data = sse(
        *[chunk({"tool_calls": calls}) for calls in deltas],
        chunk({}, "tool_calls"),
        chunk(None, usage=usage),
    )
    want = assert_everywhere("openai-chat", data)
    assert want.tool_calls == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "CET"}),
    ]
