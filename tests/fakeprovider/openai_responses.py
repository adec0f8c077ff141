"""OpenAI Responses, as api.openai.com sends it (see shared/fixtures/openai-responses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import websearch
from .common import Ctx, sse
from .openai_chat import error_body as error_body  # same error envelope as Chat
from .replies import Reply, Usage, split_json, split_text


def usage_obj(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cached},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.total,
    }


def _response(reply: Reply, ctx: Ctx, status: str) -> dict[str, Any]:
    b = ctx.body
    return {
        "id": ctx.id("resp_"),
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": b.get("instructions"),
        "max_output_tokens": b.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": reply.model or ctx.model,
        "output": [],
        "parallel_tool_calls": b.get("parallel_tool_calls", True),
        "previous_response_id": b.get("previous_response_id"),
        "prompt_cache_key": b.get("prompt_cache_key"),
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "auto",
        "store": b.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": b.get("tool_choice", "auto"),
        "tools": b.get("tools", []),
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": {},
    }


def _final(reply: Reply, ctx: Ctx, output: list[dict[str, Any]]) -> dict[str, Any]:
    incomplete = reply.stop_kind == "max_tokens"
    resp = _response(reply, ctx, "incomplete" if incomplete else "completed")
    if incomplete:
        resp["incomplete_details"] = {"reason": "max_output_tokens"}
    resp["output"] = output
    resp["usage"] = usage_obj(reply.usage)
    return resp


def _reasoning_item(reply: Reply, ctx: Ctx, done: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"id": ctx.id("rs_"), "type": "reasoning", "summary": []}
    if done and reply.reasoning:
        item["summary"] = [{"type": "summary_text", "text": reply.reasoning}]
    if reply.signature is not None:
        item["encrypted_content"] = reply.signature
    return item


def _text_part(text: str, cited: bool = False) -> dict[str, Any]:
    notes = websearch.responses_annotations(text) if cited else []
    return {"type": "output_text", "annotations": notes, "logprobs": [], "text": text}


def _searching(reply: Reply, ctx: Ctx) -> bool:
    return reply.text is not None and websearch.wanted("openai-responses", ctx.body)


def _message_item(reply: Reply, ctx: Ctx, done: bool) -> dict[str, Any]:
    return {
        "id": ctx.id("msg_"),
        "type": "message",
        "status": "completed" if done else "in_progress",
        "content": [_text_part(reply.text or "", _searching(reply, ctx))] if done else [],
        "role": "assistant",
    }


def _call_item(reply: Reply, ctx: Ctx, i: int, done: bool) -> dict[str, Any]:
    tc = reply.calls[i]
    return {
        "id": ctx.id("fc_", i),
        "type": "function_call",
        "status": "completed" if done else "in_progress",
        "arguments": tc.arguments_json if done else "",
        "call_id": tc.id or ctx.id("call_", i),
        "name": tc.name,
    }


def _output(reply: Reply, ctx: Ctx) -> list[dict[str, Any]]:
    out = []
    if reply.reasoning is not None or reply.signature is not None:
        out.append(_reasoning_item(reply, ctx, True))
    if _searching(reply, ctx):
        out.append(websearch.responses_call(ctx, ctx.body, True))
    if reply.text is not None:
        out.append(_message_item(reply, ctx, True))
    out += [_call_item(reply, ctx, i, True) for i in range(len(reply.calls))]
    return out


def body(reply: Reply, ctx: Ctx) -> dict[str, Any]:
    return _final(reply, ctx, _output(reply, ctx))


class _Seq:
    """Numbers events in order, as the live API does (``sequence_number``)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str, **fields: Any) -> bytes:
        obj = {"type": kind, "sequence_number": self.n, **fields}
        self.n += 1
        return sse(obj, event=kind)


def _reasoning_events(reply: Reply, ctx: Ctx, ev: _Seq, idx: int) -> Iterator[bytes]:
    item_id = ctx.id("rs_")
    added = _reasoning_item(reply, ctx, False)
    yield ev("response.output_item.added", output_index=idx, item=added)
    if reply.reasoning:
        where = {"item_id": item_id, "output_index": idx, "summary_index": 0}
        yield ev("response.reasoning_summary_part.added", **where,
                 part={"type": "summary_text", "text": ""})
        for piece in split_text(reply.reasoning):
            yield ev("response.reasoning_summary_text.delta", **where, delta=piece)
        yield ev("response.reasoning_summary_text.done", **where, text=reply.reasoning)
        yield ev("response.reasoning_summary_part.done", **where,
                 part={"type": "summary_text", "text": reply.reasoning})
    yield ev("response.output_item.done", output_index=idx, item=_reasoning_item(reply, ctx, True))


def _message_events(reply: Reply, ctx: Ctx, ev: _Seq, idx: int) -> Iterator[bytes]:
    where = {"item_id": ctx.id("msg_"), "output_index": idx, "content_index": 0}
    yield ev("response.output_item.added", output_index=idx, item=_message_item(reply, ctx, False))
    yield ev("response.content_part.added", **where, part=_text_part(""))
    for piece in reply.deltas():
        yield ev("response.output_text.delta", **where, delta=piece, logprobs=[])
    cited = _searching(reply, ctx)
    if cited:
        for i, note in enumerate(websearch.responses_annotations(reply.text or "")):
            yield ev("response.output_text.annotation.added", annotation=note,
                     annotation_index=i, **where)
    yield ev("response.output_text.done", **where, text=reply.text or "", logprobs=[])
    yield ev("response.content_part.done", **where, part=_text_part(reply.text or "", cited))
    yield ev("response.output_item.done", output_index=idx, item=_message_item(reply, ctx, True))


def _call_events(reply: Reply, ctx: Ctx, ev: _Seq, idx: int, i: int) -> Iterator[bytes]:
    where = {"item_id": ctx.id("fc_", i), "output_index": idx}
    yield ev("response.output_item.added", output_index=idx, item=_call_item(reply, ctx, i, False))
    args = reply.calls[i].arguments_json
    for frag in split_json(args):
        yield ev("response.function_call_arguments.delta", **where, delta=frag)
    yield ev("response.function_call_arguments.done", **where, arguments=args)
    yield ev("response.output_item.done", output_index=idx, item=_call_item(reply, ctx, i, True))


def events(reply: Reply, ctx: Ctx) -> Iterator[bytes]:
    ev = _Seq()
    yield ev("response.created", response=_response(reply, ctx, "in_progress"))
    yield ev("response.in_progress", response=_response(reply, ctx, "in_progress"))
    idx = 0
    if reply.reasoning is not None or reply.signature is not None:
        yield from _reasoning_events(reply, ctx, ev, idx)
        idx += 1
    if _searching(reply, ctx):
        added = websearch.responses_call(ctx, ctx.body, False)
        yield ev("response.output_item.added", item=added, output_index=idx)
        for step in ("in_progress", "searching", "completed"):
            yield ev(f"response.web_search_call.{step}", item_id=added["id"], output_index=idx)
        done = websearch.responses_call(ctx, ctx.body, True)
        yield ev("response.output_item.done", item=done, output_index=idx)
        idx += 1
    if reply.text is not None:
        yield from _message_events(reply, ctx, ev, idx)
        idx += 1
    for i in range(len(reply.calls)):
        yield from _call_events(reply, ctx, ev, idx, i)
        idx += 1
    final = _final(reply, ctx, _output(reply, ctx))
    kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    yield ev(kind, response=final)


def mid_stream_error(ctx: Ctx, message: str) -> bytes:
    """An ``error`` event then ``response.failed`` (fixture stream-error-insufficient-quota)."""
    err = {"type": "server_error", "code": "server_error", "message": message, "param": None}
    failed = _response(Reply(), ctx, "failed")
    failed["error"] = {"code": "server_error", "message": message}
    return (
        sse({"type": "error", "sequence_number": 900, "error": err}, event="error")
        + sse({"type": "response.failed", "sequence_number": 901, "response": failed},
              event="response.failed")
    )
