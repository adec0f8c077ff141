"""Gemini's grounding <-> canonical: the ``googleSearch`` and ``urlContext``
tools, and a candidate's ``groundingMetadata`` (``webSearchQueries``,
``groundingChunks`` with ``web.uri``/``title``, ``groundingSupports`` whose
``segment`` locates cited text in UTF-8 bytes).

Gemini runs its searches inside one turn and reports them after the text,
with no call ids and no per-query results: each query becomes a
:class:`WebSearchCall` (ids derived from the response id) and all sources
go in one :class:`WebSearchResults` after the first call. What Gemini's
tools cannot say: domain filters, user location, ``max_uses`` and the
search context size (``googleSearch`` takes no such options). What its
metadata cannot say: snippets, page age, a source's quoted passage, and a
fetched page's text (``urlContextMetadata`` lists only URLs and statuses).
"""

from __future__ import annotations

from typing import Any

from ..canonical import (
    WEB_FETCH,
    WEB_SEARCH,
    Citation,
    Meta,
    Part,
    Text,
    Tool,
    WebFetch,
    WebFetchResult,
    WebSearch,
    WebSearchCall,
    WebSearchResult,
    WebSearchResults,
)
from ..web import GEMINI_FETCH, GEMINI_SEARCH
from .common import NAME, as_dict, as_list, field


def parse_tool(key: str, spec: Any) -> Tool | None:
    raw: Meta = {NAME: {key: spec}}
    if key in GEMINI_SEARCH:
        return Tool(WEB_SEARCH, kind="builtin", meta=raw, server=WebSearch())
    if key in GEMINI_FETCH:
        return Tool(WEB_FETCH, kind="builtin", meta=raw, server=WebFetch())
    return None


def render_tool(tool: Tool) -> dict[str, Any] | None:
    if isinstance(tool.server, WebSearch):
        return {"googleSearch": {}}
    if isinstance(tool.server, WebFetch):
        return {"urlContext": {}}
    return None


# -------------------------------------------------------------------- parsing


def has_grounding(metadata: Any) -> bool:
    meta = as_dict(metadata)
    return bool(
        field(meta, "webSearchQueries")
        or field(meta, "groundingChunks")
        or field(meta, "groundingSupports")
    )


def web_parts(metadata: Any, base: str) -> list[Part]:
    """The searches of ``groundingMetadata`` as canonical calls and results."""
    meta = as_dict(metadata)
    queries = [q for q in as_list(field(meta, "webSearchQueries")) if isinstance(q, str)]
    results = [r for r in (_chunk(c) for c in as_list(field(meta, "groundingChunks"))) if r]
    if not queries and results:
        queries = [""]  # sources without a query: still one search
    parts: list[Part] = []
    for i, query in enumerate(queries):
        call_id = f"gs_{base}_{i}"
        parts.append(WebSearchCall(call_id, WEB_SEARCH, query=query or None))
        parts.append(WebSearchResults(call_id, results if i == 0 else []))
    return parts


def _chunk(raw: Any) -> WebSearchResult | None:
    web = as_dict(field(as_dict(raw), "web"))
    uri = web.get("uri")
    if not isinstance(uri, str):
        return None
    title = web.get("title")
    return WebSearchResult(uri, title=title if isinstance(title, str) else None)


def fetch_parts(metadata: Any, base: str) -> list[Part]:
    """``urlContextMetadata``: the pages Gemini fetched (URLs only)."""
    parts: list[Part] = []
    for i, raw in enumerate(as_list(field(as_dict(metadata), "urlMetadata"))):
        url = field(as_dict(raw), "retrievedUrl")
        if not isinstance(url, str):
            continue
        status = str(field(as_dict(raw), "urlRetrievalStatus") or "")
        call_id = f"uc_{base}_{i}"
        failed = status and not status.endswith("SUCCESS")
        parts.append(WebSearchCall(call_id, WEB_FETCH, url=url))
        parts.append(WebFetchResult(call_id, url, error="unavailable" if failed else None))
    return parts


def supports(metadata: Any) -> list[tuple[int, int, int, Citation]]:
    """``(part index, start byte, end byte, citation)`` for every source of
    every grounding support (one citation per source)."""
    meta = as_dict(metadata)
    chunks = [_chunk(c) for c in as_list(field(meta, "groundingChunks"))]
    out: list[tuple[int, int, int, Citation]] = []
    for raw in as_list(field(meta, "groundingSupports")):
        raw = as_dict(raw)
        segment = as_dict(raw.get("segment"))
        start, end = segment.get("startIndex", 0), segment.get("endIndex")
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        part = segment.get("partIndex", 0)
        for index in as_list(field(raw, "groundingChunkIndices")):
            chunk = chunks[index] if isinstance(index, int) and 0 <= index < len(chunks) else None
            if chunk is not None:
                citation = Citation(chunk.url, title=chunk.title)
                out.append((part if isinstance(part, int) else 0, start, end, citation))
    return out


def char_offset(text: str, byte_offset: int) -> int:
    """A UTF-8 byte offset into ``text`` as a character offset."""
    return len(text.encode()[:byte_offset].decode(errors="ignore"))


def cite_texts(texts: list[Text], found: list[tuple[int, int, int, Citation]]) -> None:
    """Attach grounding supports to the response's text parts: a segment's
    bytes count from the start of Gemini part ``partIndex`` (the text parts
    in order); one that spans parts is cut at the end of the first."""
    encoded = [t.text.encode() for t in texts]
    for part_index, start, end, citation in found:
        if not 0 <= part_index < len(texts):
            continue
        # a streamed answer's segments count over all its text
        index, offset = part_index, 0
        while index < len(texts) - 1 and start >= offset + len(encoded[index]):
            offset += len(encoded[index])
            index += 1
        text = texts[index].text
        local_start, local_end = start - offset, min(end - offset, len(encoded[index]))
        citation.start = char_offset(text, local_start)
        citation.end = char_offset(text, local_end)
        texts[index].citations.append(citation)


# ------------------------------------------------------------------ rendering


def render_grounding(parts: list[Part]) -> dict[str, Any] | None:
    """``groundingMetadata`` for a Gemini client from canonical web parts
    and citations (None when there were no searches). Segment offsets count
    UTF-8 bytes over the candidate's text, in order."""
    queries: list[str] = []
    chunks: list[dict[str, Any]] = []
    where: dict[str, int] = {}
    supports_out: list[dict[str, Any]] = []

    def chunk_index(url: str, title: str | None) -> int:
        if url not in where:
            where[url] = len(chunks)
            chunks.append({"web": {"uri": url, "title": title or url}})
        return where[url]

    position = 0  # bytes of text so far
    for part in parts:
        if isinstance(part, WebSearchCall) and part.name == WEB_SEARCH:
            queries.append(part.query or "")
        elif isinstance(part, WebSearchResults):
            for result in part.results:
                chunk_index(result.url, result.title)
        elif isinstance(part, Text):
            supports_out.extend(_supports(part, position, chunk_index))
            position += len(part.text.encode())
    if not queries and not chunks:
        return None
    out: dict[str, Any] = {"webSearchQueries": queries, "groundingChunks": chunks}
    if supports_out:
        out["groundingSupports"] = supports_out
    return out


def _supports(part: Text, position: int, chunk_index: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    text = part.text
    for citation in part.citations:
        start = citation.start if citation.start is not None else 0
        end = citation.end if citation.end is not None else len(text)
        byte_start = position + len(text[:start].encode())
        byte_end = position + len(text[:end].encode())
        segment = {"startIndex": byte_start, "endIndex": byte_end, "text": text[start:end]}
        index = chunk_index(citation.url, citation.title)
        out.append({"segment": segment, "groundingChunkIndices": [index]})
    return out
