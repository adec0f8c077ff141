"""Anthropic Message (non-streamed response) <-> canonical Response."""

from __future__ import annotations

from typing import Any

from ..canonical import (
    Env,
    Message,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Response,
    Text,
    ToolCall,
    TranslationError,
    Usage,
    WebFetchResult,
    WebSearchCall,
    WebSearchResults,
)
from .blocks import attach_carriers, parse_content
from .common import (
    NAME,
    anthropic_meta,
    foreign_meta,
    stop_from_wire,
    stop_to_wire,
    usage_from_wire,
    usage_to_wire,
)
from .content import carried_signature, carrier_block, signed_thinking, tool_use_block
from .web import empty_result, render_citation, split_cited, web_blocks


def parse_response(body: dict[str, Any]) -> Response:
    if not isinstance(body, dict):
        raise TranslationError("", "the response body must be a JSON object")
    if body.get("type") == "error":
        raise TranslationError("type", "an error body is not a message")
    holder = Message("assistant", parse_content(body.get("content") or [], "content"))
    attach_carriers([holder])
    response = Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=holder.parts,
        stop_reason=stop_from_wire(body.get("stop_reason")),
        stop_sequence=body.get("stop_sequence"),
        usage=usage_from_wire(body.get("usage")),
    )
    if body.get("stop_details"):
        response.meta[NAME] = {"stop_details": body["stop_details"]}
    return response


def render_response(response: Response, env: Env) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for i, part in enumerate(response.parts):
        content.extend(response_blocks(part, env))
        if isinstance(part, WebSearchCall) and not _answered(part, response.parts[i + 1 :]):
            content.append(empty_result(part, content[-1]["id"]))
    has_tool_use = any(block["type"] == "tool_use" for block in content)
    has_refusal = any(isinstance(p, Refusal) for p in response.parts)
    body: dict[str, Any] = {
        "id": response.id or env.new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_to_wire(response.stop_reason, has_tool_use, has_refusal),
        "stop_sequence": response.stop_sequence,
        "usage": usage_to_wire(response.usage or Usage()),
    }
    stop_details = anthropic_meta(response.meta).get("stop_details")
    if stop_details:
        body["stop_details"] = stop_details
    return body


def response_blocks(part: Part, env: Env) -> list[dict[str, Any]]:
    """A part as shown to an Anthropic client; nothing for what it cannot show
    (media, tool results, other formats' opaque items)."""
    if isinstance(part, Text) and part.citations and not anthropic_meta(part.meta).get("citations"):
        return cited_blocks(part)
    if isinstance(part, Text | Refusal):
        return [_text(part)] if part.text else []
    if isinstance(part, WebSearchCall | WebSearchResults | WebFetchResult):
        return web_blocks(part, env)
    if isinstance(part, Reasoning):
        block = signed_thinking(part)
        if block is None:
            block = {
                "type": "thinking",
                "thinking": part.text,
                "signature": carried_signature(part.meta),
            }
        return [block]
    if isinstance(part, ToolCall):
        blocks = [tool_use_block(part, env, [])]
        if foreign_meta(part.meta):
            blocks.append(carrier_block(blocks[0]["id"], part.meta))
        return blocks
    if isinstance(part, Opaque) and part.format == NAME:
        return [part.data]
    return []


def _answered(call: WebSearchCall, rest: list[Part]) -> bool:
    following = rest[0] if rest else None
    return isinstance(following, WebSearchResults | WebFetchResult) and following.call_id == call.id


def cited_blocks(part: Text) -> list[dict[str, Any]]:
    """Text with another format's citations: one block per cited span."""
    blocks: list[dict[str, Any]] = []
    for text, citations in split_cited(part):
        block: dict[str, Any] = {"type": "text", "text": text}
        if citations:
            block["citations"] = [render_citation(c, text) for c in citations]
        blocks.append(block)
    return blocks


def _text(part: Text | Refusal) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.text}
    citations = anthropic_meta(part.meta).get("citations")
    if citations:
        block["citations"] = citations
    return block
