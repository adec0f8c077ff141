"""Anthropic content blocks -> canonical parts (requests and responses alike).

A ``thinking`` block's signature may be an envelope made by
:func:`~translators.canonical.wrap_meta`: thinking that another provider
issued and that this client could only carry. Its metadata is restored as the
issuing format's (never recorded as Anthropic's). An envelope whose
``anthropic`` entry names a ``tool_use_id`` is a carrier for a tool call's
foreign metadata (Gemini's thought signature on a function call): see
:func:`attach_carriers`.
"""

from __future__ import annotations

import base64
from typing import Any

from ..canonical import (
    Citation,
    Media,
    Message,
    Meta,
    Opaque,
    Part,
    Reasoning,
    Text,
    ToolCall,
    ToolResult,
    TranslationError,
    unwrap_meta,
)
from ..copies import Copies
from ..sse import dumps
from .common import NAME
from .web import parse_citation, parse_web_block

_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}
_DOCUMENT_EXTRAS = ("context", "citations")
ANTHROPIC_ONLY = frozenset(
    {
        # Anthropic's server tools: their calls and results, run by Anthropic.
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "advisor_tool_result",
        "tool_reference",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)
"""Documented block types with no meaning outside Anthropic: carried whole
and sent back only to Anthropic (other formats leave them out)."""


def guess_image_type(url: str) -> str:
    """Anthropic URL images carry no media type; other formats want one."""
    tail = url.split("?", 1)[0].rsplit(".", 1)
    return _IMAGE_TYPES.get(tail[-1].lower(), "image/jpeg") if len(tail) == 2 else "image/jpeg"


def parse_content(content: Any, path: str) -> list[Part]:
    """A message's ``content``: a string or a list of blocks."""
    if isinstance(content, str):
        return [Text(content)] if content else []
    if not isinstance(content, list):
        raise TranslationError(path, "content must be a string or a list of blocks")
    return [parse_block(block, f"{path}[{i}]") for i, block in enumerate(content)]


def parse_block(block: Any, path: str) -> Part:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise TranslationError(f"{path}.type", "a content block must be an object with a type")
    kind = block["type"]
    parser = _PARSERS.get(kind)
    if parser is None:
        # server_tool_use, web_search_tool_result, container_upload, ...:
        # meaningful only to Anthropic, so carried whole and sent back only there.
        # A type Anthropic does not document cannot go anywhere else.
        web = parse_web_block(block)
        if web is not None:
            return web
        unknown = None if kind in ANTHROPIC_ONLY else (path, kind)
        return Opaque(NAME, block, unknown=unknown)
    return parser(block, path)


def _text(block: dict[str, Any], path: str) -> Part:
    text = block.get("text")
    if not isinstance(text, str):
        raise TranslationError(f"{path}.text", "text must be a string")
    meta: Meta = {}
    citations: list[Citation] = []
    if block.get("citations"):
        meta[NAME] = {"citations": block["citations"]}
        if isinstance(block["citations"], list):
            found = (parse_citation(c) for c in block["citations"])
            citations = [c for c in found if c is not None]
    return Text(text, cache_control=block.get("cache_control"), meta=meta, citations=citations)


def _source(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise TranslationError(f"{path}.source", "source must be an object")
    return source


def _image(block: dict[str, Any], path: str) -> Part:
    source = _source(block, path)
    cache = block.get("cache_control")
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media_type = source.get("media_type") or "image/png"
        return Media(media_type, data=source["data"], cache_control=cache)
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
        return Media(guess_image_type(url), url=url, cache_control=cache)
    return _other_source(block, source, path)  # file ids, or a source we do not know


def _other_source(block: dict[str, Any], source: dict[str, Any], path: str) -> Part:
    """A file id means something only to Anthropic; a source type Anthropic
    does not document cannot be translated."""
    kind = source.get("type")
    unknown = None if kind == "file" else (f"{path}.source.type", str(kind))
    return Opaque(NAME, block, unknown=unknown)


def _document(block: dict[str, Any], path: str) -> Part:
    source = _source(block, path)
    kind, data = source.get("type"), source.get("data")
    media: Media | None = None
    if kind == "base64" and isinstance(data, str):
        media = Media(source.get("media_type") or "application/pdf", data=data)
    elif kind == "url" and isinstance(source.get("url"), str):
        media = Media("application/pdf", url=source["url"])
    elif kind == "text" and isinstance(data, str):
        encoded = base64.b64encode(data.encode()).decode("ascii")
        media = Media(source.get("media_type") or "text/plain", data=encoded)
    elif kind == "content":
        return _content_document(block, source, path)
    if media is None:
        return _other_source(block, source, path)
    media.filename = block.get("title")
    media.cache_control = block.get("cache_control")
    extras = {key: block[key] for key in _DOCUMENT_EXTRAS if block.get(key) is not None}
    if extras:
        media.meta[NAME] = extras
    return media


def _content_document(block: dict[str, Any], source: dict[str, Any], path: str) -> Part:
    """A document of text the client wrote itself: other formats read it as
    text under its title; Anthropic gets the block back."""
    content = source.get("content")
    items = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(items, list):
        raise TranslationError(f"{path}.source.content", "content must be a string or a list")
    texts: list[str] = []
    for i, item in enumerate(items):
        where = f"{path}.source.content[{i}]"
        if isinstance(item, dict) and item.get("type") == "image":
            # an image inside a document: no other format has the like
            return Opaque(NAME, block, unknown=(where, "image in a document"))
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise TranslationError(where, "expected a text or image block")
        texts.append(item["text"])
    title = block.get("title")
    head = [f"Document: {title}"] if isinstance(title, str) and title else []
    text = "\n\n".join([*head, *texts])
    return Text(text, cache_control=block.get("cache_control"), meta={NAME: {"block": block}})


def _compaction(block: dict[str, Any], path: str) -> Part:
    """The summary Anthropic's context management wrote of earlier turns:
    other formats read the summary as text; Anthropic gets the block back."""
    content = block.get("content")
    if not isinstance(content, str) or not content:
        return Opaque(NAME, block)  # a failed compaction: nothing to read
    return Text(content, cache_control=block.get("cache_control"), meta={NAME: {"block": block}})


def _tool_use(block: dict[str, Any], path: str) -> Part:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise TranslationError(path, "tool_use needs a string id and name")
    raw_input = block.get("input")
    arguments = dumps(raw_input) if raw_input is not None else "{}"
    return ToolCall(call_id, name, arguments)


def _tool_result(block: dict[str, Any], path: str) -> Part:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise TranslationError(f"{path}.tool_use_id", "tool_result needs a tool_use_id")
    content = block.get("content")
    parts: list[Text | Media] = []
    if isinstance(content, str):
        parts = [Text(content)] if content else []
    elif isinstance(content, list):
        parts = [_result_part(item, f"{path}.content[{i}]") for i, item in enumerate(content)]
    elif content is not None:
        raise TranslationError(f"{path}.content", "content must be a string or a list")
    return ToolResult(
        call_id,
        parts,
        is_error=bool(block.get("is_error")),
        cache_control=block.get("cache_control"),
    )


def _result_part(item: Any, path: str) -> Text | Media:
    part = parse_block(item, path)
    if isinstance(part, Text | Media):
        return part
    # No canonical shape, but the model must still see them.
    return Text(dumps(item))


def _search_result(block: dict[str, Any], path: str) -> Part:
    """A search result (RAG content the client supplies): other formats read
    it as text with its source and title; Anthropic gets the block back."""
    source, title = block.get("source"), block.get("title")
    if not isinstance(source, str) or not isinstance(title, str):
        raise TranslationError(path, "search_result needs a string source and title")
    content = block.get("content")
    if not isinstance(content, list):
        raise TranslationError(f"{path}.content", "search_result content must be a list")
    texts: list[str] = []
    for i, item in enumerate(content):
        if not isinstance(item, dict) or item.get("type") != "text":
            raise TranslationError(f"{path}.content[{i}]", "search_result content is text blocks")
        if not isinstance(item.get("text"), str):
            raise TranslationError(f"{path}.content[{i}].text", "text must be a string")
        texts.append(item["text"])
    text = "\n\n".join([f"Search result: {title}\nSource: {source}", *texts])
    return Text(text, cache_control=block.get("cache_control"), meta={NAME: {"block": block}})


def _thinking(block: dict[str, Any], path: str) -> Part:
    text = block.get("thinking")
    if not isinstance(text, str):
        raise TranslationError(f"{path}.thinking", "thinking must be a string")
    signature = block.get("signature")
    carried = unwrap_meta(signature) if isinstance(signature, str) else None
    if carried is not None:
        return Reasoning(text, meta=carried)
    meta: Meta = {NAME: {"signature": signature}} if signature else {}
    return Reasoning(text, meta=meta)


def _redacted(block: dict[str, Any], path: str) -> Part:
    data = block.get("data")
    if not isinstance(data, str):
        raise TranslationError(f"{path}.data", "redacted_thinking needs data")
    return Reasoning("", meta={NAME: {"data": data}})


_PARSERS = {
    "text": _text,
    "image": _image,
    "document": _document,
    "tool_use": _tool_use,
    "tool_result": _tool_result,
    "thinking": _thinking,
    "redacted_thinking": _redacted,
    "search_result": _search_result,
    "compaction": _compaction,
}


def carrier_target(part: Part) -> str | None:
    """The tool_use id a carrier thinking block belongs to, else None."""
    if isinstance(part, Reasoning) and not part.text:
        target = part.meta.get(NAME, {}).get("tool_use_id")
        return target if isinstance(target, str) else None
    return None


def attach_carriers(messages: list[Message]) -> None:
    """Move carried tool-call metadata back onto its tool call and drop the
    carrier blocks (they were never thinking)."""
    carried: dict[str, Meta] = {}
    for message in messages:
        kept: list[Part] = []
        for part in message.parts:
            target = carrier_target(part)
            if target is None:
                kept.append(part)
            else:
                carried[target] = {k: v for k, v in part.meta.items() if k != NAME}
        message.parts = kept
    if not carried:
        return
    for message in messages:
        for i, part in enumerate(message.parts):
            if isinstance(part, ToolCall) and part.id in carried:
                # a copy: the part may be shared (a remembered message's, never changed)
                meta = {**part.meta, **carried[part.id]}
                message.parts[i] = _CARRIED.with_meta(part, meta)


_CARRIED = Copies()
"""Tool calls with their carried metadata: the same copy each turn for a
remembered call and equal metadata."""
