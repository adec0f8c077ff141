"""A provider error in the middle of a stream, for a Responses client:
``response.failed`` says a code of the Responses set (the provider's own code
kept in the message), and every item opened before the error is closed
first, carrying what was streamed, and listed in ``response.failed``'s
output. Judged by the openai SDK's own event types (strict) and its stream
accumulator, however the provider's bytes are split."""

from __future__ import annotations

from typing import Any, get_args

import openai
import pytest
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockStart,
    ErrorInfo,
    StreamError,
    StreamStart,
    Text,
    ToolCall,
    counting_env,
)
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseError, ResponseStreamEvent
from openai_chat_helpers import chunk, sse
from openai_responses_helpers import sdk_client, wire_events
from pydantic import TypeAdapter
from streamkit import pieces

STRICT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
FAILED_CODES = set(get_args(ResponseError.model_fields["code"].annotation))
SPLITS = [("whole", 0), ("bytes", 0), *(("random", seed) for seed in range(3))]


def provider_error(code: Any, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# (provider error, the code response.failed says, whether the message names the provider's code)
ERRORS = {
    "groq-tool-use-failed": (
        provider_error("tool_use_failed", "invalid_request_error", "Failed to call a function."),
        "invalid_prompt",
        True,
    ),
    "code-is-a-type": (
        provider_error("invalid_request_error", "invalid_request_error", "Bad tool schema."),
        "invalid_prompt",
        True,
    ),
    "openrouter-upstream": (
        provider_error("provider_error", "server_error", "Upstream provider failed."),
        "server_error",
        True,
    ),
    "no-code": (
        provider_error(None, "server_error", "The server had an error."),
        "server_error",
        False,
    ),
    "overloaded": (
        provider_error("overloaded", "overloaded_error", "Overloaded."),
        "server_error",
        True,
    ),
    "rate-limit": (
        provider_error("rate_limit_exceeded", "rate_limit_error", "Slow down."),
        "rate_limit_exceeded",
        False,
    ),
}


def text_then_error(error: dict[str, Any]) -> bytes:
    return sse(
        chunk({"role": "assistant", "content": "The answer "}),
        chunk({"content": "is partly "}),
        chunk({"content": "here"}),
        error,
        done=False,
    )


def call_then_error(error: dict[str, Any]) -> bytes:
    call = {
        "index": 0,
        "id": "call_q",
        "type": "function",
        "function": {"name": "search", "arguments": '{"q": "pari'},
    }
    return sse(
        chunk({"role": "assistant", "content": "Searching."}),
        chunk({"tool_calls": [call]}),
        error,
        done=False,
    )


def translate(data: bytes, mode: str, seed: int) -> bytes:
    translator = StreamTranslator(
        get_format("openai-chat"), get_format("openai-responses"), counting_env(), model="m"
    )
    out = b"".join(translator.feed(p) for p in pieces(data, mode, seed))
    return out + translator.finish()


def judged(out: bytes) -> tuple[list[dict[str, Any]], Any]:
    """Every event validated by the SDK's own (strict) event types, then
    replayed through its accumulator (all but ``error``, which makes the SDK
    raise): the payloads and the failed response's snapshot."""
    payloads = [payload for _, payload in wire_events(out)]
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=openai.omit)
    failed = None
    for payload in payloads:
        event = STRICT.validate_python(payload, strict=True)
        if event.type == "error":
            continue
        for handled in state.handle_event(event):
            if handled.type == "response.failed":
                failed = handled.response
    assert failed is not None
    return payloads, failed


def assert_every_item_closed(payloads: list[dict[str, Any]]) -> None:
    added = [p["output_index"] for p in payloads if p["type"] == "response.output_item.added"]
    done = [p["output_index"] for p in payloads if p["type"] == "response.output_item.done"]
    assert sorted(done) == sorted(added)
    kinds = [p["type"] for p in payloads]
    assert kinds[-2:] == ["error", "response.failed"]
    assert max(i for i, k in enumerate(kinds) if k == "response.output_item.done") < len(kinds) - 2


@pytest.mark.parametrize("name", sorted(ERRORS))
@pytest.mark.parametrize(("mode", "seed"), SPLITS)
def test_failed_code_is_a_responses_code_and_the_text_is_kept(
    name: str, mode: str, seed: int
) -> None:
    error, code, named = ERRORS[name]
    payloads, failed = judged(translate(text_then_error(error), mode, seed))
    assert_every_item_closed(payloads)
    assert failed.status == "failed"
    assert failed.error.code == code
    assert failed.error.code in FAILED_CODES
    provider = error["error"]
    assert provider["message"] in failed.error.message
    if named:
        assert provider["code"] in failed.error.message
    [message] = failed.output
    assert message.type == "message" and message.status == "incomplete"
    assert "".join(p.text for p in message.content) == "The answer is partly here"
    # the error event keeps the provider's own word (its code is free text)
    error_event = next(p for p in payloads if p["type"] == "error")
    assert error_event["message"] == provider["message"]


@pytest.mark.parametrize(("mode", "seed"), SPLITS)
def test_a_call_streamed_before_the_error_is_closed_and_listed(mode: str, seed: int) -> None:
    error, _, _ = ERRORS["groq-tool-use-failed"]
    payloads, failed = judged(translate(call_then_error(error), mode, seed))
    assert_every_item_closed(payloads)
    assert [item.type for item in failed.output] == ["message", "function_call"]
    assert "".join(p.text for p in failed.output[0].content) == "Searching."
    assert (failed.output[1].name, failed.output[1].arguments) == ("search", '{"q": "pari')


def test_the_sdk_raises_the_providers_message() -> None:
    error, _, _ = ERRORS["groq-tool-use-failed"]
    out = translate(text_then_error(error), "whole", 0)
    with (
        pytest.raises(openai.APIError, match="Failed to call a function"),
        sdk_client(out).responses.stream(model="m", input="hi") as stream,
    ):
        list(stream)


def test_an_error_while_a_block_is_still_open_closes_it_incomplete() -> None:
    """The engine fails the stream itself (upstream died) with a block open."""
    encoder = get_format("openai-responses").stream_encoder(counting_env(), model="m")
    events = [
        StreamStart("r1", "m"),
        BlockStart(0, Text("")),
        BlockDelta(0, "half a sen"),
    ]
    out = b"".join(encoder.feed(e) for e in events)
    out += encoder.feed(StreamError(ErrorInfo(502, "server", "upstream connection lost")))
    payloads, failed = judged(out)
    assert_every_item_closed(payloads)
    assert failed.error.code == "server_error"
    assert failed.output[0].status == "incomplete"
    assert failed.output[0].content[0].text == "half a sen"

    encoder = get_format("openai-responses").stream_encoder(counting_env(), model="m")
    events = [StreamStart("r2", "m"), BlockStart(0, ToolCall("c1", "f")), BlockDelta(0, '{"a"')]
    out = b"".join(encoder.feed(e) for e in events)
    out += encoder.feed(StreamError(ErrorInfo(502, "server", "upstream connection lost")))
    payloads, failed = judged(out)
    assert_every_item_closed(payloads)
    call = failed.output[0]
    assert (call.type, call.status, call.arguments) == ("function_call", "incomplete", '{"a"')


@pytest.mark.parametrize(
    ("code", "kind"),
    [("insufficient_quota", "rate_limit"), ("context_length_exceeded", "invalid_request")],
)
def test_openais_own_failed_codes_are_kept(code: str, kind: Any) -> None:
    """Codes OpenAI's streams send in response.failed (Codex acts on them)."""
    encoder = get_format("openai-responses").stream_encoder(counting_env(), model="m")
    out = encoder.feed(StreamStart("r3", "m"))
    out += encoder.feed(StreamError(ErrorInfo(400, kind, "no", code=code)))
    failed = wire_events(out)[-1][1]["response"]["error"]
    assert failed == {"code": code, "message": "no"}
