"""The vendors' own web search, faked: when a request carries its format's
search tool, the answer first searches (a query from the last user text),
then cites the first result over the whole answer text, in the exact shapes
of the recordings (shared/fixtures: anthropic/*web-search*,
openai-responses/*web-search*, gemini/*grounding*).
"""

from __future__ import annotations

import re
from typing import Any

from .upstream import last_user_text

RESULTS = [
    ("https://example.com/paris-weather", "Paris weather today - Example Weather",
     "Paris: sunny, 21 C, light wind from the west."),
    ("https://example.org/france/paris", "Paris - Example Encyclopedia",
     "Paris is the capital and largest city of France."),
]  # fmt: skip
_ANTHROPIC = re.compile(r"web_search_\d{8}$")
_RESPONSES = {"web_search", "web_search_preview", "web_search_2025_08_26",
              "web_search_preview_2025_03_11"}  # fmt: skip
_GEMINI = {"googleSearch", "google_search"}
GEMINI_TOOL_PROMPT = 64
"""Gemini's toolUsePromptTokenCount of a grounded answer (the search results
the model read, on every chunk as recorded); billed as input."""


def wanted(fmt: str, body: dict[str, Any]) -> bool:
    """The request carries this vendor's search tool (Chat: the search
    models' ``web_search_options``)."""
    if fmt == "openai-chat":
        return isinstance(body.get("web_search_options"), dict)
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if fmt == "anthropic" and _ANTHROPIC.match(str(tool.get("type"))):
            return True
        if fmt == "openai-responses" and tool.get("type") in _RESPONSES:
            return True
        if fmt == "gemini" and _GEMINI.intersection(tool):
            return True
    return False


def query(fmt: str, body: dict[str, Any]) -> str:
    return f"search: {last_user_text(fmt, body)[:60]}".strip()


# ------------------------------------------------------------------ anthropic


def anthropic_blocks(ctx: Any, body: dict[str, Any], text: str) -> list[dict[str, Any]]:
    call_id = ctx.id("srvtoolu_")
    url, title, snippet = RESULTS[0]
    citation = {"type": "web_search_result_location", "cited_text": snippet, "url": url,
                "title": title, "encrypted_index": "RmFrZUluZGV4MQ=="}  # fmt: skip
    results = [
        {"type": "web_search_result", "title": t, "url": u,
         "encrypted_content": f"RmFrZUNvbnRlbnQ{i}", "page_age": "1 day ago"}
        for i, (u, t, _) in enumerate(RESULTS)
    ]  # fmt: skip
    return [
        {"type": "server_tool_use", "id": call_id, "name": "web_search",
         "input": {"query": query("anthropic", body)}},
        {"type": "web_search_tool_result", "tool_use_id": call_id, "content": results},
        {"type": "text", "text": text, "citations": [citation]},
    ]  # fmt: skip


# ----------------------------------------------------------------- responses


def responses_call(ctx: Any, body: dict[str, Any], done: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"id": ctx.id("ws_"), "type": "web_search_call",
                            "status": "completed" if done else "in_progress"}  # fmt: skip
    if done:
        q = query("openai-responses", body)
        item["action"] = {"type": "search", "queries": [q], "query": q}
        if "web_search_call.action.sources" in (body.get("include") or []):
            item["action"]["sources"] = [{"type": "url", "url": u} for u, _, _ in RESULTS]
    return item


def responses_annotations(text: str) -> list[dict[str, Any]]:
    url, title, _ = RESULTS[0]
    return [{"type": "url_citation", "end_index": len(text), "start_index": 0,
             "title": title, "url": url}]  # fmt: skip


def chat_annotations(text: str) -> list[dict[str, Any]]:
    url, title, _ = RESULTS[0]
    span = {"end_index": len(text), "start_index": 0, "title": title, "url": url}
    return [{"type": "url_citation", "url_citation": span}]


# -------------------------------------------------------------------- gemini


def grounding(body: dict[str, Any], text: str) -> dict[str, Any]:
    end = len(text.encode())
    return {
        "searchEntryPoint": {"renderedContent": "<div>fake search</div>"},
        "groundingChunks": [{"web": {"uri": u, "title": t}} for u, t, _ in RESULTS],
        "groundingSupports": [
            {"segment": {"endIndex": end, "text": text}, "groundingChunkIndices": [0]}
        ],
        "webSearchQueries": [query("gemini", body)],
    }
