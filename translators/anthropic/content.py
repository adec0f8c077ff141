"""Canonical parts -> Anthropic content blocks (requests and responses).

Functions return ``None`` for what Anthropic cannot take in that place and,
where a request is being rendered, say why in ``warnings``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..canonical import Env, Media, Meta, Reasoning, Text, ToolCall, ToolResult, wrap_meta
from .common import NAME, anthropic_meta, arguments_to_input, custom_input, foreign_meta


def text_block(part: Text) -> dict[str, Any] | None:
    """Anthropic rejects empty and whitespace-only text blocks."""
    own = anthropic_meta(part.meta)
    if isinstance(own.get("block"), dict):  # a search_result, sent back as it came
        return dict(own["block"])
    if not part.text.strip():
        return None
    block: dict[str, Any] = {"type": "text", "text": part.text}
    citations = own.get("citations")
    if citations:
        block["citations"] = citations
    if part.cache_control:
        block["cache_control"] = part.cache_control
    return block


def _data_url(url: str) -> tuple[str, str] | None:
    """``data:<type>;base64,<data>`` -> (type, data)."""
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        return None
    return head[5:-7] or "application/octet-stream", data


def _source(media: Media) -> dict[str, Any] | None:
    if media.data is not None:
        return {"type": "base64", "media_type": media.media_type, "data": media.data}
    if media.url is None:
        return None
    inline = _data_url(media.url)
    if inline is not None:
        return {"type": "base64", "media_type": inline[0], "data": inline[1]}
    return {"type": "url", "url": media.url}


def _text_source(media: Media) -> dict[str, Any] | None:
    if media.data is None:
        return None
    try:
        text = base64.b64decode(media.data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return {"type": "text", "media_type": "text/plain", "data": text}


def media_block(media: Media) -> dict[str, Any] | None:
    """An image or a document (PDF, plain text); None for other media."""
    if media.is_image:
        source = _source(media)
        block = None if source is None else {"type": "image", "source": source}
    elif media.media_type == "application/pdf":
        source = _source(media)
        block = None if source is None else {"type": "document", "source": source}
    elif media.media_type.startswith("text/"):
        source = _text_source(media)
        block = None if source is None else {"type": "document", "source": source}
    else:
        block = None
    if block is None:
        return None
    if block["type"] == "document":
        if media.filename:
            block["title"] = media.filename
        block.update(anthropic_meta(media.meta))
    if media.cache_control:
        block["cache_control"] = media.cache_control
    return block


def media_note(media: Media) -> dict[str, Any]:
    """What the model sees instead of an attachment Anthropic cannot read."""
    return {"type": "text", "text": media.omitted_note()}


def tool_input(call: ToolCall, warnings: list[str]) -> dict[str, Any]:
    if call.kind == "custom":
        return custom_input(call.arguments)
    value = arguments_to_input(call.arguments)
    if value is None:
        warnings.append(f"tool call {call.id}: arguments are not a JSON object; sent as {{}}")
        return {}
    return value


def tool_use_block(call: ToolCall, env: Env, warnings: list[str]) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": call.id or env.new_id("toolu_"),
        "name": call.name,
        "input": tool_input(call, warnings),
    }


def tool_result_block(result: ToolResult, warnings: list[str]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in result.content:
        if isinstance(part, Text):
            block = text_block(part)
        else:
            block = media_block(part)
            if block is None:
                warnings.append(f"tool result {result.call_id}: {part.media_type} omitted")
                block = media_note(part)
        if block is not None:
            content.append(block)
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.call_id}
    if content:
        out["content"] = content
    if result.is_error:
        out["is_error"] = True
    if result.cache_control:
        out["cache_control"] = result.cache_control
    return out


def signed_thinking(part: Reasoning) -> dict[str, Any] | None:
    """Thinking Anthropic issued (a signature or redacted data), else None."""
    own = anthropic_meta(part.meta)
    if isinstance(own.get("data"), str) and own["data"]:
        return {"type": "redacted_thinking", "data": own["data"]}
    if isinstance(own.get("signature"), str) and own["signature"]:
        return {"type": "thinking", "thinking": part.text, "signature": own["signature"]}
    return None


def carried_signature(meta: Meta) -> str:
    """The signature for thinking shown to an Anthropic client: another
    format's metadata wrapped so it comes back, or nothing."""
    return wrap_meta(meta) if foreign_meta(meta) else ""


def carrier_block(call_id: str, meta: Meta) -> dict[str, Any]:
    """An empty thinking block carrying a tool call's foreign metadata (e.g.
    Gemini's thought signature); the parser moves it back onto the call."""
    carried: Meta = {**meta, NAME: {"tool_use_id": call_id}}
    return {"type": "thinking", "thinking": "", "signature": wrap_meta(carried)}
