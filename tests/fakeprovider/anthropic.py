"""Anthropic Messages, as api.anthropic.com sends it (see shared/fixtures/anthropic)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from . import websearch
from .common import Ctx, sse
from .replies import Reply, Usage, split_json, split_text

STOP = {"end": "end_turn", "tool_use": "tool_use", "max_tokens": "max_tokens"}

ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str, request_id: str = "req_fake") -> dict[str, Any]:
    kind = ERRORS.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def usage_obj(u: Usage, output: int | None = None) -> dict[str, Any]:
    # Anthropic's input_tokens excludes cache reads and writes; the canonical input includes them.
    return {
        "input_tokens": u.input - u.cached - u.written,
        "cache_creation_input_tokens": u.written,
        "cache_read_input_tokens": u.cached,
        "cache_creation": {"ephemeral_5m_input_tokens": u.written - u.written_1h,
                           "ephemeral_1h_input_tokens": u.written_1h},
        "output_tokens": u.output if output is None else output,
        "service_tier": "standard",
    }


def _tool_id(reply: Reply, ctx: Ctx, i: int) -> str:
    return reply.calls[i].id or ctx.id("toolu_", i)


def _content(reply: Reply, ctx: Ctx) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        content.append(
            {"type": "thinking", "thinking": reply.reasoning, "signature": reply.signature or ""}
        )
    if reply.text is not None:
        content.append({"type": "text", "text": reply.text})
    for i, tc in enumerate(reply.calls):
        content.append(
            {"type": "tool_use", "id": _tool_id(reply, ctx, i), "name": tc.name,
             "input": tc.arguments}
        )
    return content


def _message(reply: Reply, ctx: Ctx, content: list[dict[str, Any]], stop: str | None,
             usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": reply.model or ctx.model,
        "id": ctx.id("msg_"),
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _searching(reply: Reply, ctx: Ctx) -> bool:
    return reply.text is not None and not reply.calls and websearch.wanted("anthropic", ctx.body)


def body(reply: Reply, ctx: Ctx) -> dict[str, Any]:
    content = _content(reply, ctx)
    usage = usage_obj(reply.usage)
    if _searching(reply, ctx):
        content = [b for b in content if b["type"] != "text"]
        content += websearch.anthropic_blocks(ctx, ctx.body, reply.text or "")
        usage["server_tool_use"] = {"web_search_requests": 1, "web_fetch_requests": 0}
    return _message(reply, ctx, content, STOP[reply.stop_kind], usage)


def _blocks(reply: Reply, ctx: Ctx) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each content block as (content_block_start payload, its deltas)."""
    blocks = []
    if reply.reasoning is not None:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in split_text(reply.reasoning)]
        deltas.append({"type": "signature_delta", "signature": reply.signature or ""})
        blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
    if _searching(reply, ctx):
        call, found, cited = websearch.anthropic_blocks(ctx, ctx.body, reply.text or "")
        given = json.dumps(call.pop("input"))
        frags = [""] + split_json(given)
        blocks.append(({**call, "input": {}},
                       [{"type": "input_json_delta", "partial_json": f} for f in frags]))
        blocks.append((found, []))
        deltas = [{"type": "citations_delta", "citation": c} for c in cited["citations"]]
        deltas += [{"type": "text_delta", "text": p} for p in reply.deltas()]
        blocks.append(({"citations": [], "type": "text", "text": ""}, deltas))
    elif reply.text is not None:
        deltas = [{"type": "text_delta", "text": p} for p in reply.deltas()]
        blocks.append(({"type": "text", "text": ""}, deltas))
    for i, tc in enumerate(reply.calls):
        frags = [""] + split_json(tc.arguments_json)
        deltas = [{"type": "input_json_delta", "partial_json": f} for f in frags]
        start = {"type": "tool_use", "id": _tool_id(reply, ctx, i), "name": tc.name, "input": {}}
        blocks.append((start, deltas))
    return blocks


def events(reply: Reply, ctx: Ctx) -> Iterator[bytes]:
    start = _message(reply, ctx, [], None, usage_obj(reply.usage, output=1))
    yield sse({"type": "message_start", "message": start}, event="message_start")
    for index, (block, deltas) in enumerate(_blocks(reply, ctx)):
        yield sse({"type": "content_block_start", "index": index, "content_block": block},
                  event="content_block_start")
        if index == 0:
            yield sse({"type": "ping"}, event="ping")
        for d in deltas:
            yield sse({"type": "content_block_delta", "index": index, "delta": d},
                      event="content_block_delta")
        yield sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
    u = reply.usage
    yield sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": STOP[reply.stop_kind], "stop_sequence": None},
            "usage": {
                "input_tokens": u.input - u.cached - u.written,
                "cache_creation_input_tokens": u.written,
                "cache_read_input_tokens": u.cached,
                "output_tokens": u.output,
                **({"server_tool_use": {"web_search_requests": 1}}
                   if _searching(reply, ctx) else {}),
            },
        },
        event="message_delta",
    )
    yield sse({"type": "message_stop"}, event="message_stop")


def mid_stream_error(ctx: Ctx, message: str) -> bytes:
    err = {"details": None, "type": "overloaded_error", "message": message}
    return sse({"type": "error", "error": err, "request_id": ctx.id("req_")}, event="error")


def count_tokens(body: dict[str, Any]) -> dict[str, Any]:
    return {"input_tokens": estimate_tokens(body)}


def estimate_tokens(obj: Any) -> int:
    """Deterministic: one token per 4 characters of the request's JSON text."""
    return max(1, len(json.dumps(obj)) // 4)


def models(ids: list[str]) -> dict[str, Any]:
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2025-05-14T00:00:00Z"}
        for m in ids
    ]
    return {"data": data, "has_more": False, "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None}
