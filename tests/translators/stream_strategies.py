"""Hypothesis strategies for legal but unusual provider streams.

One abstract model turn (reasoning, text and tool calls in some order, a
usage, where the usage is reported) is drawn, then written in one format's
wire shape the unusual ways providers do: parallel calls whose argument
fragments interleave at any granularity or arrive all in one chunk, empty
and whitespace-only fragments, content inside the opening or closing
events, usage only at the start or only at the end, reasoning before,
between and after tool calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

words = st.text(alphabet="abcdefghij klmnop ÄéΩ日本\n", min_size=1, max_size=24)
values = st.one_of(st.integers(-99, 99), words, st.booleans())
argument_sets = st.dictionaries(st.sampled_from(["city", "cmd", "n", "tz"]), values, max_size=3)


@dataclass
class Call:
    name: str
    args: dict[str, Any]
    id: str
    text: str = ""  # the arguments as the provider writes them


@dataclass
class Turn:
    """What the model said, in order: ("reasoning"|"text", str) or ("call", Call)."""

    blocks: list[tuple[str, Any]] = field(default_factory=list)
    usage: tuple[int, int] = (10, 5)
    usage_at: str = "end"  # "start", "end" or "both"

    @property
    def calls(self) -> list[Call]:
        return [b[1] for b in self.blocks if b[0] == "call"]


@st.composite
def turns(draw: st.DrawFn, between: bool = True) -> Turn:
    """``between``: reasoning may come between tool calls."""
    blocks: list[tuple[str, Any]] = []
    if draw(st.booleans()):
        blocks.append(("reasoning", draw(words)))
    if draw(st.booleans()):
        blocks.append(("text", draw(words)))
    for i in range(draw(st.integers(0 if blocks else 1, 3))):
        if i and between and draw(st.integers(0, 3)) == 0:
            blocks.append(("reasoning", draw(words)))
        args = draw(argument_sets)
        compact = draw(st.booleans())
        text = json.dumps(args, separators=(",", ":") if compact else None, ensure_ascii=False)
        name = draw(st.sampled_from(["get_weather", "run", "read_file"]))
        blocks.append(("call", Call(name, args, f"call_{i}x", text)))
    if draw(st.booleans()) and blocks[-1][0] == "call":
        blocks.append(("reasoning", draw(words)))  # after the calls
    usage = (draw(st.integers(1, 900)), draw(st.integers(1, 400)))
    return Turn(blocks, usage, draw(st.sampled_from(["start", "end", "both"])))


def _cuts(draw: st.DrawFn, text: str, lead: bool = True) -> list[str]:
    """``text`` in 1-4 pieces, with empty and whitespace-only fragments
    where JSON allows them (before and after the value; not before it for
    Anthropic, whose SDK parses every partial input and fails on " ")."""
    points = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=3)))
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    pieces = [p for p in pieces if p]
    if draw(st.booleans()):
        pieces.insert(0, draw(st.sampled_from(["", " ", "\n"] if lead else [""])))
    if draw(st.booleans()):
        pieces.append(draw(st.sampled_from(["", " "])))
    if draw(st.booleans()):
        pieces.insert(draw(st.integers(0, len(pieces))), "")
    return pieces


def _split(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` in 1-4 non-empty pieces (nothing added)."""
    points = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=3)))
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    return [p for p in pieces if p]


def _sse(events: list[dict[str, Any]], named: bool = False, crlf: bool = False) -> bytes:
    end = "\r\n\r\n" if crlf else "\n\n"
    return b"".join(
        ((f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}{end}").encode()
        for e in events
    )


# ----------------------------------------------------------------- openai chat


@st.composite
def chat_streams(draw: st.DrawFn) -> tuple[Turn, bytes]:
    turn = draw(turns())
    chunks: list[dict[str, Any]] = []

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> None:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        chunks.append(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": choices,
                **extra,
            }
        )

    inp, out = turn.usage
    usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
    chunk(
        {"role": "assistant", "content": ""}, **({"usage": usage} if turn.usage_at != "end" else {})
    )
    pending: list[tuple[int, Call]] = []
    index = 0
    for kind, value in [*turn.blocks, ("end", None)]:
        if kind == "call":
            pending.append((index, value))
            index += 1
            continue
        if pending:
            _chat_calls(draw, pending, chunk)
            pending = []
        if kind in ("reasoning", "text"):
            key = "reasoning_content" if kind == "reasoning" else "content"
            for piece in _cuts(draw, value):
                if piece:
                    chunk({key: piece})
    chunk({}, "tool_calls" if turn.calls else "stop")
    if turn.usage_at != "start":
        chunk(None, usage=usage)
    return turn, b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + (
        b"data: [DONE]\n\n"
    )


def _chat_calls(draw: st.DrawFn, calls: list[tuple[int, Call]], chunk: Any) -> None:
    """Headers, then argument fragments in any interleaving (or all in one delta)."""
    fragments = {i: _cuts(draw, c.text) for i, c in calls}
    headers = [
        {
            "index": i,
            "id": c.id,
            "type": "function",
            "function": {
                "name": c.name,
                "arguments": fragments[i].pop(0) if draw(st.booleans()) else "",
            },
        }
        for i, c in calls
    ]
    order = [i for i, _ in calls for _ in fragments[i]]
    order = draw(st.permutations(order))  # the fragments of each call stay in order
    updates = [{"index": i, "function": {"arguments": fragments[i].pop(0)}} for i in order]
    mode = draw(st.sampled_from(["separate", "headers_together", "one_chunk"]))
    if mode == "one_chunk":
        chunk({"tool_calls": headers + updates})
        return
    if mode == "headers_together":
        chunk({"tool_calls": headers})
    else:
        for header in headers:
            chunk({"tool_calls": [header]})
    for update in updates:
        chunk({"tool_calls": [update]})


# ------------------------------------------------------------------- anthropic


@st.composite
def anthropic_streams(draw: st.DrawFn) -> tuple[Turn, bytes]:
    turn = draw(turns())
    blocks = [_anthropic_block(kind, value) for kind, value in turn.blocks]
    inside = draw(st.integers(0, len(blocks)))  # this many arrive inside message_start
    stop = "tool_use" if turn.calls else "end_turn"
    inp, out = turn.usage
    no_delta = inside == len(blocks) and draw(st.booleans())
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": blocks[:inside],
        "stop_reason": stop if no_delta else None,
        "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out if no_delta else 1},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for i, block in enumerate(blocks[inside:], start=inside):
        events += _anthropic_streamed(draw, i, block)
    if not no_delta:
        usage: dict[str, Any] = {"output_tokens": out}
        if turn.usage_at != "end":
            message["usage"] = {"input_tokens": inp, "output_tokens": out}
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": usage,
            }
        )
    events.append({"type": "message_stop"})
    return turn, _sse(events, named=True)


def _anthropic_block(kind: str, value: Any) -> dict[str, Any]:
    if kind == "reasoning":
        return {"type": "thinking", "thinking": value, "signature": "c2ln"}
    if kind == "text":
        return {"type": "text", "text": value}
    return {"type": "tool_use", "id": "toolu_" + value.id, "name": value.name, "input": value.args}


def _anthropic_streamed(draw: st.DrawFn, i: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block["type"]
    empty = {
        "thinking": {"type": "thinking", "thinking": "", "signature": ""},
        "text": {"type": "text", "text": ""},
        "tool_use": {**block, "input": {}},
    }[kind]
    events: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": i, "content_block": empty}
    ]
    if kind == "tool_use":
        text = json.dumps(block["input"], ensure_ascii=False)
        deltas = [
            {"type": "input_json_delta", "partial_json": p} for p in _cuts(draw, text, lead=False)
        ]
    else:
        key, delta = (
            ("thinking", "thinking_delta") if kind == "thinking" else ("text", "text_delta")
        )
        deltas = [{"type": delta, key: p} for p in _cuts(draw, block[key]) if p]
        if kind == "thinking":
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    events += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
    events.append({"type": "content_block_stop", "index": i})
    return events


# ---------------------------------------------------------- openai responses


@st.composite
def responses_streams(draw: st.DrawFn) -> tuple[Turn, bytes]:
    turn = draw(turns())
    items = [_responses_item(n, kind, value) for n, (kind, value) in enumerate(turn.blocks)]
    inp, out = turn.usage
    usage = {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inp + out,
    }
    base = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "m",
        "status": "in_progress",
        "output": [],
    }
    events: list[dict[str, Any]] = [{"type": "response.created", "response": base}]
    streamed = draw(st.integers(0, len(items)))  # the rest only in response.completed
    for n, item in enumerate(items[:streamed]):
        events += _responses_streamed(draw, n, item)
    done = {**base, "status": "completed", "output": items, "usage": usage}
    events.append({"type": "response.completed", "response": done})
    for seq, event in enumerate(events):
        event["sequence_number"] = seq
    return turn, _sse(events, named=True)


def _responses_item(n: int, kind: str, value: Any) -> dict[str, Any]:
    if kind == "reasoning":
        return {
            "type": "reasoning",
            "id": f"rs_{n}",
            "summary": [{"type": "summary_text", "text": value}],
        }
    if kind == "text":
        return {
            "type": "message",
            "id": f"msg_{n}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": value, "annotations": []}],
        }
    return {
        "type": "function_call",
        "id": f"fc_{n}",
        "call_id": value.id,
        "name": value.name,
        "arguments": value.text,
        "status": "completed",
    }


def _responses_streamed(draw: st.DrawFn, n: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    kind = item["type"]
    at = {"output_index": n, "item_id": item["id"]}
    if kind == "function_call":
        added = {**item, "arguments": "", "status": "in_progress"}
        pieces = _cuts(draw, item["arguments"])
        item["arguments"] = "".join(pieces)  # the final item says what the deltas said
        out = [{"type": "response.output_item.added", "output_index": n, "item": added}]
        out += [
            {"type": "response.function_call_arguments.delta", **at, "delta": p} for p in pieces
        ]
        out.append(
            {"type": "response.function_call_arguments.done", **at, "arguments": item["arguments"]}
        )
    elif kind == "reasoning":
        text = item["summary"][0]["text"]
        part = {**at, "summary_index": 0}
        out = [
            {
                "type": "response.output_item.added",
                "output_index": n,
                "item": {**item, "summary": []},
            },
            {
                "type": "response.reasoning_summary_part.added",
                **part,
                "part": {"type": "summary_text", "text": ""},
            },
        ]
        out += [
            {"type": "response.reasoning_summary_text.delta", **part, "delta": p}
            for p in _split(draw, text)
            if p
        ]
        out += [
            {"type": "response.reasoning_summary_text.done", **part, "text": text},
            {
                "type": "response.reasoning_summary_part.done",
                **part,
                "part": {"type": "summary_text", "text": text},
            },
        ]
    else:
        text = item["content"][0]["text"]
        part = {**at, "content_index": 0}
        out = [
            {
                "type": "response.output_item.added",
                "output_index": n,
                "item": {**item, "content": [], "status": "in_progress"},
            },
            {
                "type": "response.content_part.added",
                **part,
                "part": {"type": "output_text", "text": "", "annotations": []},
            },
        ]
        out += [
            {"type": "response.output_text.delta", **part, "delta": p, "logprobs": []}
            for p in _split(draw, text)
            if p
        ]
        out += [
            {"type": "response.output_text.done", **part, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **part, "part": item["content"][0]},
        ]
    out.append({"type": "response.output_item.done", "output_index": n, "item": item})
    return out


# ---------------------------------------------------------------------- gemini


@st.composite
def gemini_streams(draw: st.DrawFn) -> tuple[Turn, bytes]:
    turn = draw(turns())
    parts: list[dict[str, Any]] = []
    for kind, value in turn.blocks:
        if kind == "call":
            parts.append({"functionCall": {"name": value.name, "args": value.args}})
        else:
            for piece in _cuts(draw, value):
                if piece:
                    parts.append(
                        {"text": piece, **({"thought": True} if kind == "reasoning" else {})}
                    )
    inp, out = turn.usage
    usage = {"promptTokenCount": inp, "candidatesTokenCount": out, "totalTokenCount": inp + out}
    # parts grouped into chunks; the last group rides in the finishing chunk (or not)
    groups: list[list[dict[str, Any]]] = []
    for part in parts:
        if not groups or draw(st.booleans()):
            groups.append([])
        groups[-1].append(part)
    if not groups or draw(st.booleans()):
        groups.append([])  # a finishing chunk without content
    where = draw(st.sampled_from(["start", "end", "after"]))
    chunks = []
    for i, group in enumerate(groups):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": group}}
        if i == len(groups) - 1:
            candidate["finishReason"] = "STOP"
        chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": "m", "responseId": "r1"}
        if (where == "start" and i == 0) or (where == "end" and i == len(groups) - 1):
            chunk["usageMetadata"] = usage
        chunks.append(chunk)
    if where == "after":
        chunks.append({"usageMetadata": usage, "modelVersion": "m", "responseId": "r1"})
    return turn, b"".join(f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks)


STRATEGIES = {
    "openai-chat": chat_streams,
    "anthropic": anthropic_streams,
    "openai-responses": responses_streams,
    "gemini": gemini_streams,
}
