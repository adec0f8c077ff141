"""Chat Completions' web search <-> canonical: the search models'
``web_search_options`` (OpenAI's ``gpt-*-search-*`` models; OpenRouter
documents the same field) and ``url_citation`` annotations on the message.

A chat provider runs no search for a model without that support, and a
plain chat target is never chosen to run another format's search tool
(:mod:`translators.web`): another format's search tool is not rendered here.
OpenRouter's ``plugins: [{id: "web"}]`` and ``:online`` model suffix are its
own switches; a chat client's ``plugins`` pass through untouched. Lost to a
chat client: the searches themselves (no item for them; the usage record
still counts them), results, fetched pages, quoted passages.
"""

from __future__ import annotations

from typing import Any

from ..canonical import WEB_SEARCH, Citation, Part, Text, Tool, UserLocation, WebSearch
from .common import NAME

LOCATION_KEYS = ("city", "region", "country", "timezone")


def parse_options(raw: Any) -> Tool | None:
    if not isinstance(raw, dict):
        return None
    location = raw.get("user_location")
    where = location.get("approximate") if isinstance(location, dict) else None
    values = (
        {k: where[k] for k in LOCATION_KEYS if isinstance(where.get(k), str)}
        if isinstance(where, dict)
        else {}
    )
    size = raw.get("search_context_size")
    search = WebSearch(
        user_location=UserLocation(**values) if values else None,
        context_size=size if isinstance(size, str) else None,
    )
    return Tool(WEB_SEARCH, kind="builtin", meta={NAME: {"web_search_options": raw}}, server=search)


def parse_annotations(raw: Any) -> list[Citation]:
    out: list[Citation] = []
    for note in raw if isinstance(raw, list) else ():
        spec = note.get("url_citation") if isinstance(note, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
            continue
        start, end, title = spec.get("start_index"), spec.get("end_index"), spec.get("title")
        out.append(
            Citation(
                spec["url"],
                title=title if isinstance(title, str) else None,
                start=start if isinstance(start, int) else None,
                end=end if isinstance(end, int) else None,
            )
        )
    return out


def render_annotation(citation: Citation, offset: int, length: int) -> dict[str, Any]:
    """A citation of a text that starts at ``offset`` of the message content."""
    start = offset + (citation.start if citation.start is not None else 0)
    end = offset + (citation.end if citation.end is not None else length)
    spec = {"start_index": start, "end_index": end, "url": citation.url}
    spec["title"] = citation.title or citation.url
    return {"type": "url_citation", "url_citation": spec}


def message_annotations(parts: list[Part]) -> list[dict[str, Any]]:
    """The message's annotations: its text parts are joined into one string."""
    out: list[dict[str, Any]] = []
    offset = 0
    for part in parts:
        if isinstance(part, Text):
            out.extend(render_annotation(c, offset, len(part.text)) for c in part.citations)
            offset += len(part.text)
    return out
