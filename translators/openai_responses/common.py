"""Pieces shared by the Responses request, response and stream modules."""

from __future__ import annotations

import mimetypes
from typing import Any

from ..canonical import (
    FormatName,
    Media,
    Meta,
    Reasoning,
    StopReason,
    ToolCall,
    Usage,
    output_with_reasoning,
    wrap_meta,
)

NAME: FormatName = "openai-responses"

CARRIER_KEY = "call_id"
"""An envelope whose ``openai-responses`` entry names a ``call_id`` carries a
tool call's foreign metadata (Gemini's thoughtSignature on a functionCall),
not a thought. Codex replays only ``call_id``/``name``/``arguments`` of a
function call, so that metadata rides in the ``encrypted_content`` of an empty
reasoning item emitted right after the call."""


def own_meta(meta: Meta) -> dict[str, Any]:
    """This format's entry of a part's meta (empty when absent)."""
    return meta.get(NAME) or {}


def foreign_meta(meta: Meta) -> Meta | None:
    """Meta issued by other formats only, or None when there is nothing to carry."""
    if NAME in meta or not meta:
        return None
    return meta


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# --------------------------------------------------------------------------- usage


def usage_from_wire(raw: Any) -> Usage | None:
    """Responses usage follows the canonical arithmetic (cached and reasoning
    tokens are subsets of input and output), except where a provider counts
    reasoning outside the output (see ``output_with_reasoning``)."""
    if not isinstance(raw, dict):
        return None
    details_in = as_dict(raw.get("input_tokens_details"))
    details_out = as_dict(raw.get("output_tokens_details"))
    input_tokens = as_int(raw.get("input_tokens"))
    reasoning = as_int(details_out.get("reasoning_tokens"))
    output = as_int(raw.get("output_tokens"))
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_with_reasoning(
            input_tokens, output, reasoning, raw.get("total_tokens")
        ),
        cache_read_tokens=as_int(details_in.get("cached_tokens")),
        cache_creation_tokens=as_int(details_in.get("cache_write_tokens")),
        reasoning_tokens=reasoning,
    )


def usage_to_wire(usage: Usage | None) -> dict[str, Any]:
    # Clients (vercel/ai, Codex) expect a usage object on the terminal event;
    # zeros are the honest value when the provider reported nothing.
    u = usage or Usage()
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_creation_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


# -------------------------------------------------------------------- stop reasons


def stop_from_wire(
    status: Any, incomplete: Any, has_tool_call: bool, has_refusal: bool
) -> StopReason:
    if status == "incomplete":
        reason = as_dict(incomplete).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    if status == "failed":
        return "error"
    if has_tool_call:
        return "tool_use"
    return "refusal" if has_refusal else "stop"


def status_for_stop(stop: StopReason) -> tuple[str, dict[str, str] | None]:
    """(status, incomplete_details) for a canonical stop reason."""
    if stop == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if stop == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    if stop == "error":
        return "failed", None
    return "completed", None


FAILED_ERROR = {"code": "server_error", "message": "The model ended its output with an error."}


# --------------------------------------------------------------------------- media


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[: -len(";base64")] or "application/octet-stream", data


def data_url(media: Media) -> str:
    return f"data:{media.media_type};base64,{media.data or ''}"


def guess_type(name: str, default: str) -> str:
    """A media type from a URL or file name; ``default`` when it says nothing."""
    path = name.split("?", 1)[0].split("#", 1)[0]
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or default


# -------------------------------------------------------------------- output items


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def summary_list(text: str) -> list[dict[str, str]]:
    return [{"type": "summary_text", "text": text}] if text else []


def encrypted_content(meta: Meta) -> str | None:
    """The opaque field of a reasoning item: ours as issued, or another
    format's metadata wrapped so the client carries it back to us."""
    own = own_meta(meta)
    if own:
        value = own.get("encrypted_content")
        return value if isinstance(value, str) else None
    foreign = foreign_meta(meta)
    return wrap_meta(foreign) if foreign else None


def reasoning_item(item_id: str, part: Reasoning) -> dict[str, Any]:
    own = own_meta(part.meta)
    summary = own.get("summary")
    if not (isinstance(summary, list) and join_summary(summary) == part.text):
        summary = summary_list(part.text)
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": summary,
        "encrypted_content": encrypted_content(part.meta),
    }


def join_summary(summary: list[Any]) -> str:
    # Joined without a separator: summaries carry their own "**Title**\n\n"
    # headings, and other formats' judges compare the concatenation.
    return "".join(str(as_dict(s).get("text") or "") for s in summary)


def tool_call_item(item_id: str, call: ToolCall, status: str) -> dict[str, Any]:
    if call.kind == "custom":
        item: dict[str, Any] = {
            "id": item_id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call.id,
            "name": call.name,
            "input": call.arguments,
        }
    else:
        item = {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "arguments": call.arguments,
            "call_id": call.id,
            "name": call.name,
        }
    namespace = own_meta(call.meta).get("namespace")
    if isinstance(namespace, str):
        item["namespace"] = namespace
    return item


def tool_call_carrier(item_id: str, call: ToolCall, foreign: Meta) -> dict[str, Any]:
    """A reasoning item carrying a tool call's foreign metadata."""
    envelope: Meta = {**foreign, NAME: {CARRIER_KEY: call.id}}
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "encrypted_content": wrap_meta(envelope),
    }
