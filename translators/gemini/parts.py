"""Single parts, both ways: Gemini part dicts <-> canonical parts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..canonical import Media, Meta, Opaque, Part, Reasoning, Text, ToolCall
from ..sse import dumps
from .common import NAME, REASONING_KEY, as_dict, field, signature_meta

# ---------------------------------------------------------------------- parsing


def parse_media(part: dict[str, Any]) -> Media | None:
    inline = field(part, "inlineData")
    if isinstance(inline, dict):
        mime = field(inline, "mimeType")
        return Media(str(mime or "application/octet-stream"), data=str(inline.get("data") or ""))
    file = field(part, "fileData")
    if isinstance(file, dict):
        mime = field(file, "mimeType")
        uri = field(file, "fileUri")
        return Media(str(mime or "application/octet-stream"), url=str(uri or ""))
    return None


def parse_arguments(args: Any) -> str:
    return dumps(args if isinstance(args, dict) else {})


def parse_model_parts(parts: list[Any], new_call_id: Callable[[int], str]) -> list[Part]:
    """A model turn's parts. ``new_call_id(n)`` names the n-th call when it
    came without an id (Gemini usually omits them)."""
    out: list[Part] = []
    calls = 0
    for raw in parts:
        if not isinstance(raw, dict):
            continue
        call = field(raw, "functionCall")
        if isinstance(call, dict):
            _add_call(out, raw, call, call.get("id") or new_call_id(calls))
            calls += 1
        elif isinstance(raw.get("text"), str):
            _add_text(out, raw)
        else:
            media = parse_media(raw)
            if media is not None:
                out.append(media)
            elif any(k != "thoughtSignature" for k in raw):
                out.append(Opaque(NAME, raw))
    return _join_thoughts(out)


def _join_thoughts(parts: list[Part]) -> list[Part]:
    """Consecutive thought parts are one thought: a streamed answer kept as
    history has its text in many parts and the signature on the last one."""
    out: list[Part] = []
    for part in parts:
        last = out[-1] if out else None
        if isinstance(part, Reasoning) and isinstance(last, Reasoning) and not last.meta:
            out[-1] = Reasoning(last.text + part.text, part.meta)
        else:
            out.append(part)
    return out


def _add_text(out: list[Part], raw: dict[str, Any]) -> None:
    text: str = raw["text"]
    meta = signature_meta(raw)
    if raw.get("thought") is True:
        out.append(Reasoning(text, meta))
        return
    if not text:
        # Gemini 3 ends a text answer with an empty part that only carries
        # the signature: it belongs to the text before it.
        last = out[-1] if out else None
        if not meta:
            return
        if isinstance(last, Text) and not last.meta:
            last.meta = meta
            return
    out.append(Text(text, meta=meta))


def _add_call(out: list[Part], raw: dict[str, Any], call: dict[str, Any], call_id: str) -> None:
    meta = signature_meta(raw)
    carried = meta.pop(REASONING_KEY, None)
    if isinstance(carried, dict):
        _restore_reasoning(out, carried)
    name = call.get("name")
    out.append(
        ToolCall(str(call_id), str(name or ""), parse_arguments(call.get("args")), meta=meta)
    )


def _restore_reasoning(out: list[Part], carried: dict[str, Any]) -> None:
    """Put back the foreign thinking our encoder packed into a call's
    signature, unless the client kept the thought parts themselves."""
    present = [p.meta for p in out if isinstance(p, Reasoning)]
    for item in carried.get("parts", []):
        if not isinstance(item, dict):
            continue
        meta = as_dict(item.get("meta"))
        if meta not in present:
            out.append(Reasoning(str(item.get("text") or ""), meta))


# -------------------------------------------------------------------- rendering


def render_media(media: Media) -> dict[str, Any]:
    if media.data is not None:
        return {"inlineData": {"mimeType": media.media_type, "data": media.data}}
    url = media.url or ""
    if url.startswith("data:") and "," in url:
        head, data = url[5:].split(",", 1)
        mime = head.split(";", 1)[0] or media.media_type
        return {"inlineData": {"mimeType": mime, "data": data}}
    return {"fileData": {"mimeType": _mime_for(media, url), "fileUri": url}}


_SUFFIX_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}


def _mime_for(media: Media, url: str) -> str:
    """Gemini requires a concrete mimeType; clients often say only image/*."""
    if media.media_type and "*" not in media.media_type:
        return media.media_type
    path = url.split("?", 1)[0].lower()
    for suffix, mime in _SUFFIX_MIME.items():
        if path.endswith(suffix):
            return mime
    return "image/jpeg" if media.media_type.startswith("image") else "application/octet-stream"


def call_args(call: ToolCall) -> dict[str, Any]:
    """functionCall.args is an object. A custom (freeform) tool's raw input
    travels as ``{"input": ...}`` (how such tools are declared to Gemini);
    arguments that are not a JSON object are kept as ``{"_raw_arguments": ...}``
    so nothing the model said is lost."""
    if call.kind == "custom":
        return {"input": call.arguments}
    if not call.arguments.strip():
        return {}
    try:
        args = json.loads(call.arguments)
    except ValueError:
        args = None
    return args if isinstance(args, dict) else {"_raw_arguments": call.arguments}


def function_call(call: ToolCall, signature: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": call.name, "args": call_args(call)}
    if call.id:
        body = {"id": call.id, **body}
    part: dict[str, Any] = {"functionCall": body}
    if signature:
        part["thoughtSignature"] = signature
    return part


def thought(text: str, signature: str | None) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text, "thought": True}
    if signature:
        part["thoughtSignature"] = signature
    return part


def text_part(text: str, meta: Meta) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text}
    sig = meta.get(NAME, {}).get("thoughtSignature")
    if isinstance(sig, str) and sig:
        part["thoughtSignature"] = sig
    return part
