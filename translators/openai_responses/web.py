"""Responses' web search <-> canonical: the ``web_search`` tool,
``web_search_call`` output items and ``url_citation`` annotations.

What Responses cannot say: blocked domains and ``max_uses`` (the tool has
an allow-list and ``search_context_size`` only), web fetch (no such tool: an
``open_page`` action is a step of a search), result snippets (an item lists
at most its sources' URLs) and a source's quoted passage. Parsed items keep
their raw form in ``meta["openai-responses"]["item"]``.
"""

from __future__ import annotations

from typing import Any

from ..canonical import (
    WEB_FETCH,
    WEB_SEARCH,
    Citation,
    Env,
    Part,
    Tool,
    UserLocation,
    WebSearch,
    WebSearchCall,
    WebSearchResult,
    WebSearchResults,
)
from ..web import RESPONSES_SEARCH
from .common import NAME, as_dict, as_list

LOCATION_KEYS = ("city", "region", "country", "timezone")
_STATUSES = ("in_progress", "searching", "completed", "failed")


def parse_tool(raw: dict[str, Any]) -> Tool | None:
    if raw.get("type") not in RESPONSES_SEARCH:
        return None
    filters = as_dict(raw.get("filters"))
    allowed = [d for d in as_list(filters.get("allowed_domains")) if isinstance(d, str)]
    where = as_dict(raw.get("user_location"))
    values = {k: where[k] for k in LOCATION_KEYS if isinstance(where.get(k), str)}
    size = raw.get("search_context_size")
    search = WebSearch(
        allowed_domains=allowed,
        user_location=UserLocation(**values) if values else None,
        context_size=size if isinstance(size, str) else None,
    )
    return Tool(WEB_SEARCH, kind="builtin", meta={NAME: dict(raw)}, server=search)


def render_tool(tool: Tool, warnings: list[str]) -> dict[str, Any] | None:
    server = tool.server
    if not isinstance(server, WebSearch):
        return None  # web fetch: Responses has no such tool
    out: dict[str, Any] = {"type": "web_search"}
    if server.allowed_domains:
        out["filters"] = {"allowed_domains": list(server.allowed_domains)}
    if server.blocked_domains:
        warnings.append("web_search blocked_domains: Responses has no such filter; dropped")
    if server.max_uses is not None:
        warnings.append("web_search max_uses: Responses has no such limit; dropped")
    location = server.user_location
    if location is not None:
        out["user_location"] = {"type": "approximate"} | {
            k: getattr(location, k) for k in LOCATION_KEYS if getattr(location, k)
        }
    if server.context_size:
        out["search_context_size"] = server.context_size
    return out


# ----------------------------------------------------------------------- items


def parse_item(item: dict[str, Any]) -> list[Part]:
    """A ``web_search_call`` item: the call, and its sources when the
    request asked for them (``include: ["web_search_call.action.sources"]``)."""
    action = as_dict(item.get("action"))
    item_id = str(item.get("id") or "")
    query = action.get("query")
    if not isinstance(query, str):
        queries = [q for q in as_list(action.get("queries")) if isinstance(q, str)]
        query = queries[0] if queries else None
    url = action.get("url")
    status = item.get("status")
    call = WebSearchCall(
        item_id,
        WEB_SEARCH,
        query=query,
        url=url if isinstance(url, str) else None,
        status=status
        if status in ("in_progress", "searching", "completed", "failed")
        else "completed",
        meta={NAME: {"item": dict(item)}},
    )
    parts: list[Part] = [call]
    sources = [as_dict(s) for s in as_list(action.get("sources"))]
    found = [WebSearchResult(s["url"]) for s in sources if isinstance(s.get("url"), str)]
    if found:
        parts.append(WebSearchResults(item_id, found, meta={NAME: {"in_item": True}}))
    return parts


def is_search(part: Part) -> bool:
    """Counts as a search (a billed ``web_search_call`` with a query)."""
    return (
        isinstance(part, WebSearchCall)
        and part.name == WEB_SEARCH
        and (part.query is not None or part.url is None)
    )


def call_item(
    part: WebSearchCall, results: WebSearchResults | None, env: Env, status: str = "completed"
) -> dict[str, Any]:
    """A call (and the results that follow it) as a ``web_search_call``
    item. A fetch shows as an ``open_page`` action; its text is lost."""
    own = as_dict(part.meta.get(NAME)).get("item")
    if isinstance(own, dict):
        return dict(own)
    item_id = part.id if part.id.startswith("ws_") else env.new_id("ws_")
    if results is not None and results.error:
        status = "failed"  # the search ran and failed: the item says so
    action: dict[str, Any]
    if part.name == WEB_FETCH:
        action = {"type": "open_page", "url": part.url or ""}
    else:
        action = {"type": "search", "query": part.query or ""}
        if results is not None and results.results:
            action["sources"] = [{"type": "url", "url": r.url} for r in results.results]
    return {"id": item_id, "type": "web_search_call", "status": status, "action": action}


# ------------------------------------------------------------------- citations


def parse_annotations(raw: Any) -> list[Citation]:
    out: list[Citation] = []
    for note in as_list(raw):
        note = as_dict(note)
        if note.get("type") != "url_citation" or not isinstance(note.get("url"), str):
            continue
        start, end = note.get("start_index"), note.get("end_index")
        title = note.get("title")
        out.append(
            Citation(
                note["url"],
                title=title if isinstance(title, str) else None,
                start=start if isinstance(start, int) else None,
                end=end if isinstance(end, int) else None,
            )
        )
    return out


def render_annotation(citation: Citation, text_length: int) -> dict[str, Any]:
    """A citation as a ``url_citation``; one without a span (Anthropic's)
    covers the whole text. Lost: the quoted source passage."""
    start = citation.start if citation.start is not None else 0
    end = citation.end if citation.end is not None else text_length
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "url": citation.url,
        "title": citation.title or citation.url,
    }
