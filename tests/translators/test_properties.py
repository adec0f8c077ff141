"""Property tests: random conversations round-trip through every format, and a
translated stream does not depend on where the bytes were split."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omniroute_mitm.translators import FORMAT_NAMES, StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Finish,
    Media,
    Message,
    Part,
    Reasoning,
    Request,
    StreamEvent,
    StreamStart,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
    counting_env,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="  # noqa: E501
TOOL_NAMES = ["get_weather", "run_shell", "read_file"]
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ÄéΩ日本", min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and s != ""
)
scalars = st.one_of(st.integers(-1000, 1000), words, st.booleans())
arguments = st.dictionaries(st.sampled_from(["city", "cmd", "path", "n"]), scalars, max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> Request:
    messages: list[Message] = []
    pending: list[ToolCall] = []
    counter = 0
    for turn in range(draw(st.integers(0, 3))):
        user_parts: list[Part] = [
            ToolResult(call_id=c.id, name=c.name, content=[Text(draw(words))]) for c in pending
        ]
        user_parts.append(Text(draw(words)))
        if draw(st.booleans()):
            user_parts.append(Media("image/png", data=PNG))
        messages.append(Message("user", user_parts))
        assistant: list[Part] = [Text(draw(words))]
        pending = []
        for _ in range(draw(st.integers(0, 2))):
            counter += 1
            call = ToolCall(f"call_{turn}_{counter}", draw(st.sampled_from(TOOL_NAMES)))
            call.arguments = json.dumps(draw(arguments))
            pending.append(call)
        messages.append(Message("assistant", assistant + pending))
    final: list[Part] = [
        ToolResult(call_id=c.id, name=c.name, content=[Text(draw(words))]) for c in pending
    ]
    messages.append(Message("user", [*final, Text(draw(words))]))
    tools = [
        Tool(name, f"{name} tool", {"type": "object", "properties": {"x": {"type": "string"}}})
        for name in TOOL_NAMES
    ]
    system = [Text(draw(words))] if draw(st.booleans()) else []
    return Request(model="m", messages=messages, system=system, tools=tools, max_tokens=100)


def _normal(request: Request) -> tuple[Any, ...]:
    """What a user would care about, with consecutive same-role turns merged."""
    turns: list[tuple[str, list[Any]]] = []
    for message in request.messages:
        parts = [p for p in (_part(part) for part in message.parts) if p is not None]
        if turns and turns[-1][0] == message.role:
            turns[-1][1].extend(parts)
        else:
            turns.append((message.role, parts))
    system = " ".join(t.text for t in request.system)
    tools = sorted(t.name for t in request.tools)
    return system, tools, turns


def _part(part: Part) -> Any:
    if isinstance(part, Text):
        return ("text", part.text)
    if isinstance(part, Media):
        return ("media", part.media_type, part.data, part.url)
    if isinstance(part, ToolCall):
        return ("call", part.id, part.name, json.loads(part.arguments or "{}"))
    if isinstance(part, ToolResult):
        content = [_part(p) for p in part.content]
        return ("result", part.call_id, content, part.is_error)
    if isinstance(part, Reasoning):
        return None
    return ("other", type(part).__name__)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=conversations())
def test_random_conversation_round_trips(fmt: str, request: Request) -> None:
    wire = get_format(fmt)
    body = wire.render_request(request, counting_env())
    parse: dict[str, Any] = {"model": "m"} if fmt == "gemini" else {}
    again = wire.parse_request(json.loads(json.dumps(body)), **parse)
    assert _normal(again) == _normal(request)


@pytest.mark.parametrize(("source", "target"), [(a, b) for a in FORMAT_NAMES for b in FORMAT_NAMES])
@settings(max_examples=60, deadline=None)
@given(request=conversations(), data=st.data())
def test_request_translation_keeps_the_conversation(
    source: str, target: str, request: Request, data: st.DataObject
) -> None:
    parse_src: dict[str, Any] = {"model": "m"} if source == "gemini" else {}
    parse_dst: dict[str, Any] = {"model": "m"} if target == "gemini" else {}
    body = get_format(source).render_request(request, counting_env())
    canonical = get_format(source).parse_request(body, **parse_src)
    translated = get_format(target).render_request(canonical, counting_env())
    again = get_format(target).parse_request(json.loads(json.dumps(translated)), **parse_dst)
    assert _normal(again) == _normal(request)


def _provider_stream(fmt: str) -> bytes:
    events: list[StreamEvent] = [
        StreamStart("id1", "m", Usage(input_tokens=12)),
        BlockStart(0, Reasoning()),
        BlockDelta(0, "thinking about it"),
        BlockEnd(0),
        BlockStart(1, Text("")),
        *(BlockDelta(1, f"tok{i} ") for i in range(20)),
        BlockEnd(1),
        BlockStart(2, ToolCall("call_a", "get_weather")),
        BlockDelta(2, '{"city":'),
        BlockDelta(2, ' "Paris"}'),
        BlockEnd(2),
        BlockStart(3, ToolCall("call_b", "read_file")),
        BlockDelta(3, '{"path": "/tmp/ä"}'),
        BlockEnd(3),
        Finish("tool_use", Usage(input_tokens=12, output_tokens=30, reasoning_tokens=5)),
    ]
    encoder = get_format(fmt).stream_encoder(counting_env(), model="m", input_tokens=12)
    return b"".join(encoder.feed(e) for e in events) + encoder.finish()


def _translate(source: str, target: str, data: bytes, splits: list[int]) -> bytes:
    translator = StreamTranslator(get_format(source), get_format(target), counting_env(), model="m")
    out, start = [], 0
    for end in sorted(set(splits)):
        out.append(translator.feed(data[start:end]))
        start = end
    out.append(translator.feed(data[start:]))
    out.append(translator.finish())
    return b"".join(out)


@pytest.mark.parametrize(("source", "target"), [(a, b) for a in FORMAT_NAMES for b in FORMAT_NAMES])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rechunking_gives_identical_output(source: str, target: str, data: st.DataObject) -> None:
    stream = _provider_stream(source)
    splits = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=60))
    assert _translate(source, target, stream, splits) == _translate(source, target, stream, [])
