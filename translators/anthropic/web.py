"""Anthropic's web tools <-> canonical: ``web_search_*``/``web_fetch_*`` tool
definitions, ``server_tool_use`` + ``web_search_tool_result`` /
``web_fetch_tool_result`` blocks and ``web_search_result_location``
citations.

Every parsed web part keeps its block in ``meta["anthropic"]["block"]`` so
it goes back to Anthropic byte for byte. A result another provider produced
has no ``encrypted_content`` Anthropic could read: the block sent to a client
carries an envelope (:func:`~translators.canonical.wrap_meta`) with the
snippet, which the parser unpacks when the client sends the turn back; such
blocks (and any web part Anthropic did not issue) go to Anthropic as a text
note, never as a block it would reject.
"""

from __future__ import annotations

import re
from typing import Any

from ..canonical import (
    WEB_FETCH,
    WEB_SEARCH,
    Citation,
    Env,
    Part,
    Text,
    Tool,
    UserLocation,
    WebFetch,
    WebFetchResult,
    WebSearch,
    WebSearchCall,
    WebSearchResult,
    WebSearchResults,
    unwrap_meta,
    wrap_meta,
)
from ..web import note
from .common import NAME

SEARCH_TYPE = re.compile(r"web_search_\d{8}$")
FETCH_TYPE = re.compile(r"web_fetch_\d{8}$")
SEARCH_VERSION = "web_search_20250305"
"""The version rendered for another format's search tool: the one every
current Claude model takes (newer dated versions are accepted from clients)."""
FETCH_VERSION = "web_fetch_20250910"
LOCATION_KEYS = ("city", "region", "country", "timezone")
_WEB = "web"  # the envelope key for what another provider found


# ------------------------------------------------------------------ tool defs


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_location(raw: Any) -> UserLocation | None:
    if not isinstance(raw, dict):
        return None
    values = {k: raw[k] for k in LOCATION_KEYS if isinstance(raw.get(k), str)}
    return UserLocation(**values) if values else None


def render_location(location: UserLocation) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "approximate"}
    for key in LOCATION_KEYS:
        value = getattr(location, key)
        if value:
            out[key] = value
    return out


def parse_tool(raw: dict[str, Any]) -> Tool | None:
    """A ``web_search_*``/``web_fetch_*`` definition, or None for another tool."""
    kind = raw.get("type")
    if not isinstance(kind, str):
        return None
    if SEARCH_TYPE.match(kind):
        search = WebSearch(
            allowed_domains=_strings(raw.get("allowed_domains")),
            blocked_domains=_strings(raw.get("blocked_domains")),
            user_location=parse_location(raw.get("user_location")),
            max_uses=_int(raw.get("max_uses")),
        )
        return Tool(WEB_SEARCH, kind="builtin", meta={NAME: raw}, server=search)
    if FETCH_TYPE.match(kind):
        citations = raw.get("citations")
        enabled = citations.get("enabled") if isinstance(citations, dict) else None
        fetch = WebFetch(
            allowed_domains=_strings(raw.get("allowed_domains")),
            blocked_domains=_strings(raw.get("blocked_domains")),
            max_uses=_int(raw.get("max_uses")),
            max_content_tokens=_int(raw.get("max_content_tokens")),
            citations=enabled if isinstance(enabled, bool) else None,
        )
        return Tool(WEB_FETCH, kind="builtin", meta={NAME: raw}, server=fetch)
    return None


def render_tool(tool: Tool) -> dict[str, Any] | None:
    """Another format's web tool as Anthropic's. Lost: Responses'
    ``search_context_size`` (Anthropic has no such knob)."""
    server = tool.server
    if isinstance(server, WebSearch):
        out: dict[str, Any] = {"type": SEARCH_VERSION, "name": WEB_SEARCH}
        # Anthropic refuses both lists at once: the allow-list is the stricter
        if server.allowed_domains:
            out["allowed_domains"] = list(server.allowed_domains)
        elif server.blocked_domains:
            out["blocked_domains"] = list(server.blocked_domains)
        if server.user_location is not None:
            out["user_location"] = render_location(server.user_location)
        if server.max_uses is not None:
            out["max_uses"] = server.max_uses
        return out
    if isinstance(server, WebFetch):
        out = {"type": FETCH_VERSION, "name": WEB_FETCH}
        if server.allowed_domains:
            out["allowed_domains"] = list(server.allowed_domains)
        elif server.blocked_domains:
            out["blocked_domains"] = list(server.blocked_domains)
        if server.max_uses is not None:
            out["max_uses"] = server.max_uses
        if server.max_content_tokens is not None:
            out["max_content_tokens"] = server.max_content_tokens
        if server.citations is not None:
            out["citations"] = {"enabled": server.citations}
        return out
    return None


# --------------------------------------------------------------------- blocks


def parse_web_block(block: dict[str, Any]) -> Part | None:
    """A server tool block of the web tools as a canonical part (None for
    other server tools: code execution, MCP, ...)."""
    kind = block.get("type")
    meta = {NAME: {"block": block}}
    if kind == "server_tool_use" and block.get("name") in (WEB_SEARCH, WEB_FETCH):
        given = block.get("input")
        given = given if isinstance(given, dict) else {}
        query, url = given.get("query"), given.get("url")
        return WebSearchCall(
            str(block.get("id") or ""),
            str(block["name"]),
            query=query if isinstance(query, str) else None,
            url=url if isinstance(url, str) else None,
            meta=meta,
        )
    if kind == "web_search_tool_result":
        call_id = str(block.get("tool_use_id") or "")
        content = block.get("content")
        if isinstance(content, dict):  # web_search_tool_result_error
            return WebSearchResults(call_id, error=str(content.get("error_code")), meta=meta)
        results = (
            [_result(r) for r in content if isinstance(r, dict)]
            if isinstance(content, list)
            else []
        )
        return WebSearchResults(call_id, [r for r in results if r is not None], meta=meta)
    if kind == "web_fetch_tool_result":
        return _fetch_result(block, meta)
    return None


def _result(raw: dict[str, Any]) -> WebSearchResult | None:
    url = raw.get("url")
    if not isinstance(url, str):
        return None
    encrypted = raw.get("encrypted_content")
    result = WebSearchResult(
        url,
        title=raw.get("title") if isinstance(raw.get("title"), str) else None,
        page_age=raw.get("page_age") if isinstance(raw.get("page_age"), str) else None,
    )
    carried = unwrap_meta(encrypted) if isinstance(encrypted, str) else None
    if carried is not None and _WEB in carried:
        snippet = carried[_WEB].get("snippet")
        result.snippet = snippet if isinstance(snippet, str) else None
    elif isinstance(encrypted, str):
        result.encrypted_content = encrypted
    return result


def _fetch_result(block: dict[str, Any], meta: Any) -> WebFetchResult:
    call_id = str(block.get("tool_use_id") or "")
    content = block.get("content")
    content = content if isinstance(content, dict) else {}
    if content.get("type") != "web_fetch_result":
        return WebFetchResult(call_id, "", error=str(content.get("error_code")), meta=meta)
    document = content.get("content")
    document = document if isinstance(document, dict) else {}
    source = document.get("source")
    source = source if isinstance(source, dict) else {}
    data = source.get("data")
    title = document.get("title")
    retrieved = content.get("retrieved_at")
    return WebFetchResult(
        call_id,
        str(content.get("url") or ""),
        text=data if isinstance(data, str) and source.get("type") == "text" else "",
        title=title if isinstance(title, str) else None,
        media_type=str(source.get("media_type") or "text/plain"),
        retrieved_at=retrieved if isinstance(retrieved, str) else None,
        meta=meta,
    )


def own_block(part: Part) -> dict[str, Any] | None:
    """The block Anthropic itself issued for this web part, if any."""
    own = part.meta.get(NAME) if hasattr(part, "meta") else None
    block = own.get("block") if isinstance(own, dict) else None
    return dict(block) if isinstance(block, dict) else None


def web_blocks(
    part: WebSearchCall | WebSearchResults | WebFetchResult, env: Env
) -> list[dict[str, Any]]:
    """A web part as the blocks an Anthropic client reads."""
    own = own_block(part)
    if own is not None:
        return [own]
    if isinstance(part, WebSearchCall):
        given = {"query": part.query or ""} if part.name == WEB_SEARCH else {"url": part.url or ""}
        call_id = part.id or env.new_id("srvtoolu_")
        return [{"type": "server_tool_use", "id": call_id, "name": part.name, "input": given}]
    if isinstance(part, WebSearchResults):
        content: Any
        if part.error:
            content = {"type": "web_search_tool_result_error", "error_code": part.error}
        else:
            content = [_render_result(r) for r in part.results]
        return [{"type": "web_search_tool_result", "tool_use_id": part.call_id, "content": content}]
    if part.error:
        content = {"type": "web_fetch_tool_result_error", "error_code": part.error}
    else:
        content = {
            "type": "web_fetch_result",
            "url": part.url,
            "content": {
                "type": "document",
                "source": {"type": "text", "media_type": part.media_type, "data": part.text},
                "title": part.title,
            },
            "retrieved_at": part.retrieved_at,
        }
    return [{"type": "web_fetch_tool_result", "tool_use_id": part.call_id, "content": content}]


def empty_result(call: WebSearchCall, call_id: str) -> dict[str, Any]:
    """The result block of a search whose provider sent no results (an
    Anthropic client expects one after every server tool call)."""
    kind = "web_fetch_tool_result" if call.name == WEB_FETCH else "web_search_tool_result"
    content: Any = (
        []
        if call.name != WEB_FETCH
        else {"type": "web_fetch_tool_result_error", "error_code": "unavailable"}
    )
    return {"type": kind, "tool_use_id": call_id, "content": content}


def _render_result(result: WebSearchResult) -> dict[str, Any]:
    encrypted = result.encrypted_content
    if encrypted is None:
        encrypted = wrap_meta({_WEB: {"snippet": result.snippet or ""}})
    return {
        "type": "web_search_result",
        "url": result.url,
        "title": result.title or result.url,
        "encrypted_content": encrypted,
        "page_age": result.page_age,
    }


def history_block(part: Part) -> dict[str, Any] | None:
    """A web part in a conversation sent to Anthropic: its own block when
    Anthropic issued it, else a text note of what was searched or found
    (Anthropic would reject a result it cannot decrypt)."""
    own = own_block(part)
    if own is not None and _issued_by_anthropic(own):
        return own
    text = note(part)
    return {"type": "text", "text": text} if text else None


def _issued_by_anthropic(block: dict[str, Any]) -> bool:
    """Anthropic's own ids (``srvtoolu_``) and results it can decrypt; what
    this proxy showed a client for another provider's search is neither."""
    call_id = (
        block.get("id") if block.get("type") == "server_tool_use" else block.get("tool_use_id")
    )
    return str(call_id).startswith("srvtoolu_") and not _carries_foreign(block)


def _carries_foreign(block: dict[str, Any]) -> bool:
    content = block.get("content")
    if not isinstance(content, list):
        return False
    return any(
        isinstance(r, dict) and unwrap_meta(r.get("encrypted_content")) is not None for r in content
    )


# ------------------------------------------------------------------ citations


def parse_citation(raw: Any) -> Citation | None:
    """A ``web_search_result_location`` citation (others stay Anthropic's)."""
    if not isinstance(raw, dict) or raw.get("type") != "web_search_result_location":
        return None
    url = raw.get("url")
    if not isinstance(url, str):
        return None
    title, cited = raw.get("title"), raw.get("cited_text")
    return Citation(
        url,
        title=title if isinstance(title, str) else None,
        cited_text=cited if isinstance(cited, str) else None,
        meta={NAME: dict(raw)},
    )


def render_citation(citation: Citation, text: str) -> dict[str, Any]:
    """A citation as Anthropic's; ``text`` is the cited span of the answer,
    quoted when the source gave no passage (Anthropic requires one)."""
    own = citation.meta.get(NAME)
    if isinstance(own, dict) and own.get("type") == "web_search_result_location":
        return dict(own)
    return {
        "type": "web_search_result_location",
        "url": citation.url,
        "title": citation.title,
        "encrypted_index": wrap_meta({_WEB: {"url": citation.url}}),
        "cited_text": citation.cited_text or text,
    }


def split_cited(part: Text) -> list[tuple[str, list[Citation]]]:
    """The text cut at its citations' spans: Anthropic cites whole blocks,
    so each located span becomes its own block. Citations without a span
    cite the whole text."""
    text = part.text
    whole = [c for c in part.citations if c.start is None or c.end is None]
    spans = sorted(
        (c for c in part.citations if c.start is not None and c.end is not None),
        key=lambda c: (c.start or 0, c.end or 0),
    )
    cuts = {0, len(text)}
    for c in spans:
        cuts.add(max(0, min(len(text), c.start or 0)))
        cuts.add(max(0, min(len(text), c.end or 0)))
    points = sorted(cuts)
    pieces: list[tuple[str, list[Citation]]] = []
    for a, b in zip(points, points[1:], strict=False):
        if a == b:
            continue
        cites = [c for c in spans if (c.start or 0) <= a and b <= (c.end or 0)]
        pieces.append((text[a:b], cites))
    if not pieces:
        pieces = [(text, [])]
    if whole:
        pieces[-1] = (pieces[-1][0], [*pieces[-1][1], *whole])
    return pieces
