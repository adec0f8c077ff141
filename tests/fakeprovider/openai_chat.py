"""OpenAI Chat Completions, as api.openai.com sends it (see shared/fixtures/openai-chat)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import websearch
from .common import Ctx, sse
from .replies import Reply, Usage, split_json

FINISH = {"end": "stop", "tool_use": "tool_calls", "max_tokens": "length"}

ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def usage_obj(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.total,
        "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_id(reply: Reply, ctx: Ctx, i: int) -> str:
    return reply.calls[i].id or ctx.id("call_", i)


def body(reply: Reply, ctx: Ctx) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning  # DeepSeek / vLLM convention
    if reply.calls:
        message["tool_calls"] = [
            {
                "id": _call_id(reply, ctx, i),
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments_json},
            }
            for i, tc in enumerate(reply.calls)
        ]
    message["refusal"] = None
    searched = reply.text is not None and websearch.wanted("openai-chat", ctx.body)
    message["annotations"] = websearch.chat_annotations(reply.text or "") if searched else []
    return {
        "id": ctx.id("chatcmpl-"),
        "object": "chat.completion",
        "created": ctx.created,
        "model": reply.model or ctx.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH[reply.stop_kind],
            }
        ],
        "usage": usage_obj(reply.usage),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


class _Chunks:
    def __init__(self, reply: Reply, ctx: Ctx) -> None:
        self.head = {
            "id": ctx.id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": reply.model or ctx.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        opts = ctx.body.get("stream_options") or {}
        self.include_usage = bool(opts.get("include_usage"))

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = dict(self.head)
        if self.include_usage:
            obj["usage"] = None
        obj["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        ]
        return sse(obj)

    def usage(self, u: Usage) -> bytes:
        return sse({**self.head, "choices": [], "usage": usage_obj(u)})


def events(reply: Reply, ctx: Ctx) -> Iterator[bytes]:
    c = _Chunks(reply, ctx)
    first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    if reply.text is None:
        first["content"] = None
    yield c.chunk(first)
    for piece in split_json(reply.reasoning or "", 3) if reply.reasoning else []:
        yield c.chunk({"reasoning_content": piece})
    for piece in reply.deltas():
        yield c.chunk({"content": piece})
    for i, tc in enumerate(reply.calls):
        head = {"index": i, "id": _call_id(reply, ctx, i), "type": "function"}
        yield c.chunk({"tool_calls": [{**head, "function": {"name": tc.name, "arguments": ""}}]})
        for frag in split_json(tc.arguments_json):
            yield c.chunk({"tool_calls": [{"index": i, "function": {"arguments": frag}}]})
    if reply.text is not None and websearch.wanted("openai-chat", ctx.body):
        # the search models' last delta: annotations alone
        yield c.chunk({"annotations": websearch.chat_annotations(reply.text)})
    yield c.chunk({}, FINISH[reply.stop_kind])
    if c.include_usage:
        yield c.usage(reply.usage)
    yield b"data: [DONE]\n\n"


def mid_stream_error(ctx: Ctx, message: str) -> bytes:
    # What api.openai.com sends when a stream fails after it started; the SDK
    # raises APIError on a data line carrying an "error" object.
    return sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


def models(ids: list[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in ids
        ],
    }


