"""Issue-7 classes of provider streams, translated into every client format and
judged by the client's own SDK: every call whole with its own arguments, the
text, the stop class and the usage the source had."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    FORMAT_NAMES,
    BlockEnd,
    BlockStart,
    ErrorInfo,
    StreamError,
    counting_env,
)
from openai_chat_helpers import chunk, sse
from sdk_judge import STREAM_JUDGES, Summary
from stream_strategies import STRATEGIES, Turn

EXAMPLES = int(os.environ.get("FIDELITY_EXAMPLES", "10"))  # per format; 4 SDK reads each


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
    """Every other client's SDK reads the translated stream as the source's
    SDK reads the source; split into 7-byte pieces it is the same bytes."""
    want = STREAM_JUDGES[source](data)
    assert want.error is None, want.error
    for client in FORMAT_NAMES:
        if client != source:
            whole = translate(source, client, data)
            assert translate(source, client, data, 7) == whole
            assert_same(STREAM_JUDGES[client](whole), want, source, client)
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


def anthropic_sse(*events: dict) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def test_anthropic_content_inside_message_start_is_content() -> None:
    """Programmatic tool calling: a whole tool_use and the stop reason in
    message_start, then message_stop (no block events, no message_delta)."""
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 7},
    }
    data = anthropic_sse({"type": "message_start", "message": message}, {"type": "message_stop"})
    want = assert_everywhere("anthropic", data)
    assert want.tool_calls == [("get_weather", {"city": "Paris"})] and want.stop == "tool_use"


def test_responses_items_only_in_response_completed_are_content() -> None:
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "m",
        "status": "in_progress",
        "output": [],
    }
    done = {
        **response,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
                "status": "completed",
            },
        ],
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 19,
        },
    }
    data = b"".join(
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
        for e in (
            {"type": "response.created", "sequence_number": 0, "response": response},
            {"type": "response.completed", "sequence_number": 1, "response": done},
        )
    )
    want = assert_everywhere("openai-responses", data)
    assert want.tool_calls == [("get_weather", {"city": "Paris"})] and want.text == "Checking."


def test_gemini_usage_in_a_chunk_after_the_finish_is_kept() -> None:
    chunks = [
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "Hi there."}]},
                    "finishReason": "STOP",
                }
            ],
            "modelVersion": "m",
            "responseId": "r1",
        },
        {
            "usageMetadata": {
                "promptTokenCount": 12,
                "candidatesTokenCount": 3,
                "totalTokenCount": 15,
            },
            "modelVersion": "m",
            "responseId": "r1",
        },
    ]
    data = b"".join(f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks)
    want = assert_everywhere("gemini", data)
    assert want.usage is not None and want.usage["output_tokens"] == 3


GROK_USAGE = {
    "prompt_tokens": 291,
    "completion_tokens": 26,
    "total_tokens": 513,
    "completion_tokens_details": {"reasoning_tokens": 196},
}


@pytest.mark.parametrize(
    ("usage", "output"),
    [
        (GROK_USAGE, 222),  # reasoning outside completion_tokens: the total tells
        ({**GROK_USAGE, "completion_tokens": 222}, 222),  # inside (OpenAI's own)
        ({**GROK_USAGE, "total_tokens": None}, 222),  # no total: more reasoning than output
        ({**GROK_USAGE, "total_tokens": None, "completion_tokens": 222}, 222),
    ],
)
def test_usage_with_reasoning_outside_the_completion_adds_up_everywhere(
    usage: dict, output: int
) -> None:
    completion = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "grok",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi."},
                "finish_reason": "stop",
            }
        ],
        "usage": {k: v for k, v in usage.items() if v is not None},
    }
    response = get_format("openai-chat").parse_response(completion)
    assert response.usage is not None and response.usage.output_tokens == output
    env = counting_env()
    total = 291 + output
    gemini = get_format("gemini").render_response(response, env)["usageMetadata"]
    assert gemini["candidatesTokenCount"] == output - 196  # the visible tokens
    assert gemini["thoughtsTokenCount"] == 196 and gemini["totalTokenCount"] == total
    anthropic = get_format("anthropic").render_response(response, env)["usage"]
    assert anthropic["input_tokens"] + anthropic["output_tokens"] == total
    responses = get_format("openai-responses").render_response(response, env)["usage"]
    assert responses["output_tokens"] == output and responses["total_tokens"] == total
    assert responses["output_tokens_details"]["reasoning_tokens"] == 196


# ------------------------------------------------------------------ generators


@pytest.mark.parametrize("source", sorted(STRATEGIES))
def test_unusual_provider_streams_reach_every_client_whole(source: str) -> None:
    """Legal but unusual streams of each provider format (stream_strategies):
    each client's SDK gets the same calls, text, reasoning, stop class and
    usage as the source's SDK, however the bytes were split."""

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(STRATEGIES[source]())
    def check(drawn: tuple[Turn, bytes]) -> None:
        turn, data = drawn
        want = assert_everywhere(source, data)
        assert want.tool_calls == [(c.name, c.args) for c in turn.calls]
        assert want.stop == ("tool_use" if turn.calls else "stop")

    check()


START_EVENTS = {
    "openai-chat": b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
    "anthropic": b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1",'
    b'"type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":1}}}\n\n',
    "openai-responses": b'event: response.created\ndata: {"type":"response.created","response":'
    b'{"id":"r1","model":"m","created_at":1,"output":[]}}\n\n',
    "gemini": b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}]}\n\n',
}


@pytest.mark.parametrize("source", sorted(START_EVENTS))
def test_every_decoder_fails_the_same_way_on_an_event_that_is_not_json(source: str) -> None:
    decoder = get_format(source).stream_decoder(counting_env())
    events = decoder.feed(START_EVENTS[source] + b"data: {not json\n\n") + decoder.finish()
    assert events[-1] == StreamError(
        ErrorInfo(502, "server", "upstream sent invalid JSON in its stream")
    )
    assert sum(isinstance(e, StreamError) for e in events) == 1
    opened = sum(isinstance(e, BlockStart) for e in events)
    assert opened == sum(isinstance(e, BlockEnd) for e in events)  # closed before the error
