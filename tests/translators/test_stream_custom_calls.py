"""Freeform (custom) tool calls from providers that only have function tools
reach a Responses client as custom calls (Codex's ``exec`` rejects anything
else: "tool exec invoked with incompatible payload")."""

from __future__ import annotations

import json

import pytest
from omniroute_mitm.translators import StreamTranslator, get_format
from omniroute_mitm.translators.canonical import (
    BlockDelta,
    BlockEnd,
    BlockStart,
    Finish,
    Response,
    Text,
    ToolCall,
    counting_env,
)
from omniroute_mitm.translators.sse import dumps
from omniroute_mitm.translators.stream import CustomCalls, restore_custom_calls

SCRIPT = 'const r = await tools.exec_command({cmd: "echo hi"});\ntext(r.output);'


def anthropic_stream(calls: list[tuple[str, str, dict]], text_after: str = "") -> bytes:
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
            "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
    ]  # fmt: skip
    for i, (call_id, name, args) in enumerate(calls):
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        raw = json.dumps(args)
        events += [
            ("content_block_start", {"type": "content_block_start", "index": i,
                                     "content_block": block}),
            *[("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "input_json_delta", "partial_json": raw[j:j + 7]}})
              for j in range(0, len(raw), 7)],
            ("content_block_stop", {"type": "content_block_stop", "index": i}),
        ]  # fmt: skip
    if text_after:
        i = len(calls)
        events += [
            ("content_block_start", {"type": "content_block_start", "index": i,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": i,
                                     "delta": {"type": "text_delta", "text": text_after}}),
            ("content_block_stop", {"type": "content_block_stop", "index": i}),
        ]  # fmt: skip
    events += [
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(f"event: {e}\ndata: {dumps(d)}\n\n".encode() for e, d in events)


def translate(data: bytes, step: int) -> list[dict]:
    translator = StreamTranslator(
        get_format("anthropic"),
        get_format("openai-responses"),
        counting_env(),
        model="m",
        custom_tools={"exec", "apply_patch"},
    )
    out = b"".join(translator.feed(data[i : i + step]) for i in range(0, len(data), step))
    out += translator.finish()
    return [json.loads(line[6:]) for line in out.decode().splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("step", [1, 13, 100_000])
def test_custom_tool_call_comes_back_custom(step: int) -> None:
    data = anthropic_stream(
        [("toolu_1", "exec", {"input": SCRIPT}), ("toolu_2", "exec_command", {"cmd": "ls"})],
        text_after="done",
    )
    events = translate(data, step)
    (completed,) = [e for e in events if e["type"] == "response.completed"]
    output = completed["response"]["output"]
    assert [item["type"] for item in output] == ["custom_tool_call", "function_call", "message"]
    custom, function, _ = output
    assert (custom["call_id"], custom["name"], custom["input"]) == ("toolu_1", "exec", SCRIPT)
    assert json.loads(function["arguments"]) == {"cmd": "ls"}
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == SCRIPT
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["custom_tool_call", "function_call", "message"]  # order kept


def test_other_arguments_stay_a_function_call() -> None:
    events = translate(anthropic_stream([("toolu_1", "exec", {"code": "x"})]), 100_000)
    (completed,) = [e for e in events if e["type"] == "response.completed"]
    (item,) = completed["response"]["output"]
    assert item["type"] == "function_call" and json.loads(item["arguments"]) == {"code": "x"}


def test_a_stream_cut_inside_a_held_call_still_shows_it() -> None:
    calls = CustomCalls({"exec"})
    start = BlockStart(0, ToolCall("c1", "exec"))
    assert calls.feed([start, BlockDelta(0, '{"inp')]) == []
    assert calls.feed([BlockStart(1, Text(""))]) == []
    assert calls.flush() == [start, BlockDelta(0, '{"inp'), BlockStart(1, Text(""))]


def test_events_after_a_held_call_follow_it() -> None:
    calls = CustomCalls({"exec"})
    start = BlockStart(0, ToolCall("c1", "exec"))
    held = calls.feed([start, BlockDelta(0, json.dumps({"input": "x"})), BlockStart(1, Text(""))])
    assert held == []
    out = calls.feed([BlockEnd(0), Finish("tool_calls")])
    assert out == [start, BlockDelta(0, "x"), BlockEnd(0), BlockStart(1, Text("")),
                   Finish("tool_calls")]  # fmt: skip
    assert isinstance(start.part, ToolCall) and start.part.kind == "custom"


def test_whole_response() -> None:
    response = Response(
        "r1",
        "m",
        parts=[
            ToolCall("c1", "apply_patch", json.dumps({"input": "*** Begin Patch"})),
            ToolCall("c2", "exec_command", json.dumps({"input": "not custom"})),
        ],
    )
    restore_custom_calls(response, {"apply_patch", "exec"})
    patch, command = response.parts
    assert isinstance(patch, ToolCall) and isinstance(command, ToolCall)
    assert (patch.kind, patch.arguments) == ("custom", "*** Begin Patch")
    assert command.kind == "function"
