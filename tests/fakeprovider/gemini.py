"""Gemini generateContent / streamGenerateContent, as generativelanguage.googleapis.com
sends it (see shared/fixtures/gemini): alt=sse frames end in CRLF CRLF; without
alt=sse the stream is one pretty-printed JSON array sent element by element."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from . import websearch
from .common import Ctx, dumps, sse
from .replies import Reply, Usage, split_text

FINISH = {"end": "STOP", "tool_use": "STOP", "max_tokens": "MAX_TOKENS"}

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}


def usage_obj(u: Usage, final: bool = True, tool_prompt: int = 0) -> dict[str, Any]:
    """``tool_prompt``: a grounded answer's search results, counted apart
    from the prompt (toolUsePromptTokenCount) and inside the total."""
    out: dict[str, Any] = {"promptTokenCount": u.input}
    if final:
        out["candidatesTokenCount"] = u.output - u.reasoning
    out["totalTokenCount"] = (u.total if final else u.input) + tool_prompt
    if final and u.cached:
        out["cachedContentTokenCount"] = u.cached
    out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": u.input}]
    if tool_prompt:
        out["toolUsePromptTokenCount"] = tool_prompt
        out["toolUsePromptTokensDetails"] = [{"modality": "TEXT", "tokenCount": tool_prompt}]
    if final and u.reasoning:
        out["thoughtsTokenCount"] = u.reasoning
    return out


def _call_parts(reply: Reply) -> list[dict[str, Any]]:
    parts = []
    for tc in reply.calls:
        call: dict[str, Any] = {"name": tc.name, "args": tc.arguments}
        if tc.id:
            call["id"] = tc.id
        parts.append({"functionCall": call})
    return parts


def _sign(reply: Reply, parts: list[dict[str, Any]]) -> None:
    """The signature rides on the first function call, else on the last text part."""
    if reply.signature is None or not parts:
        return
    calls = [p for p in parts if "functionCall" in p]
    (calls[0] if calls else parts[-1])["thoughtSignature"] = reply.signature


def _chunk(reply: Reply, ctx: Ctx, parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if final:
        cand["finishReason"] = FINISH[reply.stop_kind]
    cand["index"] = 0
    searched = reply.text is not None and websearch.wanted("gemini", ctx.body)
    if searched:
        # as recorded: {} on every chunk, the metadata on the last
        cand["groundingMetadata"] = websearch.grounding(ctx.body, reply.text or "") if final else {}
    if final and reply.calls:
        cand["finishMessage"] = "Model generated function call(s)."
    return {
        "candidates": [cand],
        "usageMetadata": usage_obj(reply.usage, final,
                                   websearch.GEMINI_TOOL_PROMPT if searched else 0),
        "modelVersion": reply.model or ctx.model,
        "responseId": ctx.id(""),
    }


def body(reply: Reply, ctx: Ctx) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        parts.append({"text": reply.reasoning, "thought": True})
    if reply.text is not None:
        parts.append({"text": reply.text})
    parts += _call_parts(reply)
    _sign(reply, parts)
    return _chunk(reply, ctx, parts, final=True)


def chunks(reply: Reply, ctx: Ctx) -> list[dict[str, Any]]:
    """The stream's response objects; the last carries finishReason and full usage."""
    out = []
    if reply.reasoning:
        out += [[{"text": p, "thought": True}] for p in split_text(reply.reasoning)]
    out += [[{"text": p}] for p in reply.deltas()]
    calls = _call_parts(reply)
    if calls or not out:
        out.append(calls or [{"text": ""}])
    _sign(reply, out[-1])
    return [_chunk(reply, ctx, parts, final=i == len(out) - 1) for i, parts in enumerate(out)]


def events(reply: Reply, ctx: Ctx) -> Iterator[bytes]:
    for obj in chunks(reply, ctx):
        yield sse(obj, crlf=True)


def array_events(reply: Reply, ctx: Ctx) -> Iterator[bytes]:
    """streamGenerateContent without alt=sse: ``[{...}\\n,\\n{...}\\n]``, element by element."""
    objs = chunks(reply, ctx)
    for i, obj in enumerate(objs):
        lead = "[" if i == 0 else "\n,\n"
        yield (lead + json.dumps(obj, indent=2, ensure_ascii=False)).encode()
    yield b"\n]"


def mid_stream_error(ctx: Ctx, message: str, sse_mode: bool = True) -> bytes:
    obj = error_body(500, message)
    return sse(obj, crlf=True) if sse_mode else ("\n,\n" + dumps(obj) + "\n]").encode()


def count_tokens(body: dict[str, Any]) -> dict[str, Any]:
    return {"totalTokens": max(1, len(json.dumps(body)) // 4)}


def models(ids: list[str]) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": f"models/{m}",
                "version": "001",
                "displayName": m,
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for m in ids
        ]
    }
