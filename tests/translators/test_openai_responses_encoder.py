"""openai-responses streams, encoding: what the encoder writes is read by the
official SDK (``responses.stream`` accumulator and ``responses.create`` event
iterator) as the same answer, with the API's exact framing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    ErrorInfo,
    Finish,
    Media,
    Opaque,
    Reasoning,
    Refusal,
    StopReason,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
    ToolResult,
    Usage,
    counting_env,
    unwrap_meta,
)
from omniroute_mitm.translators.openai_responses import FORMAT
from openai.types.responses import ResponseStreamEvent
from openai_responses_helpers import (
    decode,
    encode,
    sdk_events,
    sdk_final_response,
    sdk_stream,
    summary,
    wire_events,
)
from pydantic import TypeAdapter

NAME = "openai-responses"
STRICT = TypeAdapter(ResponseStreamEvent)
WEB_SEARCH_WARNING = "ignore:Pydantic serializer warnings:UserWarning"


def block(
    index: int, part: Any, *deltas: str, meta: dict[str, Any] | None = None
) -> list[StreamEvent]:
    return [
        BlockStart(index, part),
        *(BlockDelta(index, d) for d in deltas),
        BlockEnd(index, meta or {}),
    ]


def rich_stream(stop: StopReason = "tool_use") -> list[StreamEvent]:
    return [
        StreamStart("resp_up", "upstream-model", Usage(input_tokens=12), created=1700000000),
        *block(0, Reasoning(), "Let me ", "think.", meta={"anthropic": {"signature": "sig"}}),
        *block(1, Text(""), "Hello", " there"),
        *block(2, Text(""), "!"),
        *block(3, ToolCall("call_a", "get_weather"), '{"city":', ' "Paris"}'),
        *block(4, ToolCall("call_b", "read_file"), '{"path": "/tmp/ä"}'),
        *block(5, ToolCall("call_c", "exec", kind="custom"), "ls ", "-la"),
        Finish(stop, Usage(12, 30, cache_read_tokens=4, reasoning_tokens=5)),
    ]


# ------------------------------------------------------------- the SDK as judge


def test_rich_stream_through_the_sdk_accumulator() -> None:
    events, resp = sdk_stream(encode(rich_stream()))
    # The SDK's running snapshots see each text block in its own content part.
    snapshots = [
        (e.content_index, e.snapshot) for e in events if e.type == "response.output_text.delta"
    ]
    assert snapshots == [(0, "Hello"), (0, "Hello there"), (1, "!")]
    args = [e.snapshot for e in events if e.type == "response.function_call_arguments.delta"]
    assert args[:2] == ['{"city":', '{"city": "Paris"}']
    assert summary(resp) == {
        "text": "Hello there!",
        "calls": [
            ("call_a", "get_weather", {"city": "Paris"}),
            ("call_b", "read_file", {"path": "/tmp/ä"}),
            ("call_c", "exec", "ls -la"),
        ],
        "reasoning": "Let me think.",
        "status": "completed",
        "usage": (12, 30, 4, 5),
    }
    assert resp.model == "client-model"  # the name the client asked for
    assert resp.id == "resp_up"
    # Anthropic's signature rides along so the client can send it back.
    assert unwrap_meta(resp.output[0].encrypted_content) == {"anthropic": {"signature": "sig"}}


def test_rich_stream_through_the_sdk_event_iterator() -> None:
    events = sdk_events(encode(rich_stream()))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello there!"
    final = events[-1].response
    assert [i.type for i in final.output] == [
        "reasoning",
        "message",
        "function_call",
        "function_call",
        "custom_tool_call",
    ]
    assert len(final.output[1].content) == 2  # two text blocks, one message item


def test_every_event_is_a_valid_sdk_event_and_framed_by_its_type() -> None:
    data = encode(rich_stream())
    assert b"[DONE]" not in data
    for name, payload in wire_events(data):
        assert name == payload["type"]
        STRICT.validate_python(payload)  # strict: the SDK's own event models


@pytest.mark.parametrize(
    ("stop", "status", "reason"),
    [
        ("length", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
        ("stop", "completed", None),
        ("refusal", "completed", None),
        ("error", "failed", None),
    ],
)
def test_stop_reasons(stop: StopReason, status: str, reason: str | None) -> None:
    events = sdk_events(encode([StreamStart("r", "m"), *block(0, Text(""), "cut"), Finish(stop)]))
    final = events[-1].response
    assert final.status == status
    assert (final.incomplete_details.reason if final.incomplete_details else None) == reason
    message = final.output[0]
    assert message.status == ("incomplete" if status == "incomplete" else "completed")
    assert (
        events[-1].type
        == {
            "completed": "response.completed",
            "incomplete": "response.incomplete",
            "failed": "response.failed",
        }[status]
    )


def test_refusal_block_streams_as_refusal_part() -> None:
    data = encode(
        [StreamStart("r", "m"), *block(0, Refusal(""), "I can't", " help."), Finish("refusal")]
    )
    types = [p["type"] for _, p in wire_events(data)]
    assert "response.refusal.delta" in types and "response.refusal.done" in types
    final = sdk_final_response(data)
    assert final.output[0].content[0].refusal == "I can't help."


def test_whole_arguments_at_block_start_are_sent() -> None:
    """Gemini delivers a function call whole; nothing may be lost."""
    events = [
        StreamStart("r", "m"),
        BlockStart(0, ToolCall("c1", "f", '{"a": 1}')),
        BlockEnd(0, {"gemini": {"thoughtSignature": "c2ln"}}),
        Finish("tool_use"),
    ]
    resp = sdk_final_response(encode(events))
    assert summary(resp)["calls"] == [("c1", "f", {"a": 1})]
    # The call's foreign signature is carried by an empty reasoning item after it.
    carrier = resp.output[1]
    assert carrier.type == "reasoning" and carrier.summary == []
    assert unwrap_meta(carrier.encrypted_content) == {
        "gemini": {"thoughtSignature": "c2ln"},
        NAME: {"call_id": "c1"},
    }


def test_parts_without_a_responses_form_are_skipped() -> None:
    events = [
        StreamStart("r", "m"),
        *block(0, Opaque("anthropic", {"type": "server_tool_use"})),
        *block(1, Media("image/png", data="AA==")),
        *block(2, ToolResult("x")),
        *block(
            3,
            Opaque(
                NAME,
                {
                    "type": "web_search_call",
                    "id": "ws_1",
                    "status": "completed",
                    "action": {"type": "search", "query": "q"},
                },
            ),
        ),
        *block(4, Text(""), "ok"),
        Finish("stop"),
    ]
    resp = sdk_final_response(encode(events))
    assert [i.type for i in resp.output] == ["web_search_call", "message"]
    assert resp.output_text == "ok"


def test_own_item_ids_are_kept_and_new_ones_prefixed() -> None:
    events = [
        StreamStart("r", "m"),
        *block(
            0, Reasoning(meta={NAME: {"id": "rs_keep"}}), meta={NAME: {"encrypted_content": "E"}}
        ),
        *block(1, ToolCall("c", "f", meta={NAME: {"id": "fc_keep", "namespace": "ns"}}), "{}"),
        *block(2, Text(""), "x"),
        Finish("tool_use"),
    ]
    output = sdk_final_response(encode(events)).output
    assert (output[0].id, output[0].encrypted_content) == ("rs_keep", "E")
    assert (output[1].id, output[1].namespace) == ("fc_keep", "ns")
    assert output[2].id.startswith("msg_")


# --------------------------------------------------------------------- errors


def test_error_mid_stream_is_an_error_event_then_response_failed() -> None:
    error = ErrorInfo(429, "rate_limit", "Rate limit reached", code="rate_limit_exceeded")
    data = encode([StreamStart("r", "m"), *block(0, Text(""), "par"), StreamError(error)])
    events = wire_events(data)
    assert [p["type"] for _, p in events][-2:] == ["error", "response.failed"]
    _, err = events[-2]
    assert (err["code"], err["message"]) == ("rate_limit_exceeded", "Rate limit reached")
    _, failed = events[-1]
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached",
    }
    assert [p["sequence_number"] for _, p in events] == list(range(len(events)))
    for _, payload in events:
        STRICT.validate_python(payload)
    with pytest.raises(openai.APIError, match="Rate limit reached"):
        sdk_final_response(data)
    # and it decodes back to the same error
    back = decode([data])[-1]
    assert isinstance(back, StreamError) and back.error.code == "rate_limit_exceeded"
    assert back.error.status == 429


def test_error_before_anything_is_just_error_and_failed() -> None:
    data = encode([StreamError(ErrorInfo(500, "server", "upstream died"))])
    assert [p["type"] for _, p in wire_events(data)] == ["error", "response.failed"]
    with pytest.raises(openai.APIError, match="upstream died"):
        sdk_events(data)


def test_events_after_the_end_are_ignored_and_a_cut_stream_fails() -> None:
    encoder = FORMAT.stream_encoder(counting_env(), model="m")
    encoder.feed(StreamStart("r", "m"))
    encoder.feed(Finish("stop"))
    assert encoder.feed(BlockStart(0, Text(""))) == b""
    assert encoder.finish() == b""
    cut = FORMAT.stream_encoder(counting_env(), model="m")
    cut.feed(StreamStart("r", "m"))
    tail = cut.finish()
    assert [p["type"] for _, p in wire_events(tail)] == ["error", "response.failed"]


def test_ping_is_an_sse_comment() -> None:
    ping = FORMAT.stream_encoder(counting_env(), model="m").ping()
    assert ping == b": ping\n\n"
    assert wire_events(ping) == []


# ----------------------------------------------------------- recorded streams


@pytest.mark.filterwarnings(WEB_SEARCH_WARNING)  # the SDK dislikes its own web search items
@pytest.mark.parametrize(
    "name",
    [
        "stream-text.sse",
        "stream-function-call.sse",
        "stream-function-calls-parallel.sse",
        "stream-reasoning-summary.sse",
        "stream-reasoning-then-function-call.sse",
        "stream-refusal.sse",
        "stream-web-search-cached-tokens.sse",
        "stream-web-search-url-citation.sse",
    ],
)
def test_recorded_stream_re_encoded_reads_the_same(fixtures_dir: Path, name: str) -> None:
    data = (fixtures_dir / "openai-responses" / name).read_bytes()
    again = encode(decode([data]))
    assert summary(sdk_final_response(again)) == summary(sdk_final_response(data))


def test_recorded_incomplete_stream_re_encoded(fixtures_dir: Path) -> None:
    data = (
        fixtures_dir / "openai-responses" / "stream-incomplete-max-output-tokens.sse"
    ).read_bytes()
    final = sdk_events(encode(decode([data])))[-1]
    original = sdk_events(data)[-1]
    assert final.type == original.type == "response.incomplete"
    assert final.response.output_text == original.response.output_text
    assert final.response.incomplete_details.reason == "max_output_tokens"


def test_recorded_error_stream_re_encoded(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "openai-responses" / "stream-error-insufficient-quota.sse").read_bytes()
    again = wire_events(encode(decode([data])))
    assert [p["type"] for _, p in again] == [
        "response.created",
        "response.in_progress",
        "error",
        "response.failed",
    ]
    assert again[-1][1]["response"]["error"]["code"] == "insufficient_quota"
    assert json.dumps(again[-2][1]["error"]["type"]) == '"insufficient_quota"'


# ---------------------------------------------------------------- performance


def test_cpu_per_chunk_stays_small() -> None:
    """Decode + encode of a long text stream: tens of microseconds a chunk."""
    deltas = 3000
    events: list[StreamEvent] = [
        StreamStart("r", "m"),
        *block(0, Text(""), *(f"tok{i} " for i in range(deltas))),
        Finish("stop", Usage(1, deltas)),
    ]
    wire = encode(events)
    start = time.process_time()
    decoder = FORMAT.stream_decoder(counting_env())
    encoder = FORMAT.stream_encoder(counting_env(), model="m")
    for line in wire.split(b"\n\n"):
        for event in decoder.feed(line + b"\n\n"):
            encoder.feed(event)
    per_chunk = (time.process_time() - start) / deltas
    assert per_chunk < 150e-6, f"{per_chunk * 1e6:.0f} us per chunk"


def test_refusal_stop_without_refusal_text_still_says_refused() -> None:
    """Anthropic's refusal stop can come with no content: a Responses client
    only knows a refusal by its refusal part."""
    data = encode([StreamStart("r", "m"), *block(0, Text(""), "Sure, "), Finish("refusal")])
    message = sdk_final_response(data).output[0]
    assert [p.type for p in message.content] == ["output_text", "refusal"]
    alone = sdk_final_response(encode([StreamStart("r", "m"), Finish("refusal")]))
    assert [p.type for p in alone.output[0].content] == ["refusal"]
