"""Server-side web tools across formats: which a request asks for, which
target formats run them themselves, and the words for a past search that a
format cannot carry.

Which format has which equivalent (the provider runs it):

====================  ===========================  =================
format                web_search                   web_fetch
====================  ===========================  =================
anthropic             ``web_search_*``             ``web_fetch_*``
openai-responses      ``web_search`` (``_preview``) (none)
gemini                ``googleSearch``             ``urlContext``
openai-chat           (only the same format: a     (none)
                      ``web_search_options`` body
                      passes through as sent)
====================  ===========================  =================
"""

from __future__ import annotations

import re
from typing import Any

from .canonical import (
    WEB_FETCH,
    WEB_SEARCH,
    FormatName,
    Part,
    WebFetchResult,
    WebSearchCall,
    WebSearchResults,
)

NATIVE: dict[str, frozenset[str]] = {
    "anthropic": frozenset({WEB_SEARCH, WEB_FETCH}),
    "openai-responses": frozenset({WEB_SEARCH}),
    "gemini": frozenset({WEB_SEARCH, WEB_FETCH}),
    "openai-chat": frozenset(),
}
"""The web tools each target format's provider runs itself."""

CLIENT_TOOL: dict[tuple[str, str], str] = {
    ("anthropic", WEB_SEARCH): "web_search_20250305",
    ("anthropic", WEB_FETCH): "web_fetch_20250910",
    ("openai-responses", WEB_SEARCH): "web_search",
    ("gemini", WEB_SEARCH): "googleSearch",
    ("gemini", WEB_FETCH): "urlContext",
    ("openai-chat", WEB_SEARCH): "web_search_options",
}
"""How each client format names the tool (for error messages)."""

RESPONSES_SEARCH = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"}
)
GEMINI_SEARCH = frozenset(
    {"googleSearch", "google_search", "googleSearchRetrieval", "google_search_retrieval"}
)
GEMINI_FETCH = frozenset({"urlContext", "url_context"})
_ANTHROPIC = re.compile(r"(web_search|web_fetch)_\d{8}$")


MEMBERS = ("tools", "tool_choice", "web_search_options")
"""The top-level members :func:`requested` and :func:`offered` read."""


def requested(fmt: FormatName, body: Any) -> frozenset[str]:
    """The web tools a raw client request asks for (a cheap scan of its
    tool list, no parse): a subset of ``{"web_search", "web_fetch"}``."""
    if not isinstance(body, dict):
        return frozenset()
    if fmt == "openai-chat":
        options = body.get("web_search_options")
        return frozenset({WEB_SEARCH}) if isinstance(options, dict) else frozenset()
    tools = body.get("tools")
    found: set[str] = set()
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        if fmt == "gemini":
            if GEMINI_SEARCH.intersection(tool):
                found.add(WEB_SEARCH)
            if GEMINI_FETCH.intersection(tool):
                found.add(WEB_FETCH)
            continue
        kind = tool.get("type")
        if not isinstance(kind, str):
            continue
        if fmt == "anthropic":
            match = _ANTHROPIC.match(kind)
            if match:
                found.add(match.group(1))
        elif fmt == "openai-responses" and kind in RESPONSES_SEARCH:
            found.add(WEB_SEARCH)
    return frozenset(found)


def offered(fmt: FormatName, body: Any) -> bool:
    """Whether the request's web tools are only offered, not what it is
    for: it has tools of its own beside them and its ``tool_choice`` does
    not force a web tool. Codex sends ``web_search`` with every turn of a
    coding session; Claude Code's WebSearch and Gemini CLI's
    google_web_search send a request with the search tool alone (or forced),
    and that request is the search. A Chat client's ``web_search_options``
    asks a search model to search: never only offered."""
    if not isinstance(body, dict) or fmt == "openai-chat":
        return False
    tools = body.get("tools")
    own = 0
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        if fmt == "gemini":
            own += bool(tool.get("functionDeclarations") or tool.get("function_declarations"))
        elif not _web_kind(fmt, tool.get("type")):
            own += 1
    choice = body.get("tool_choice")
    forced = False
    if isinstance(choice, dict):
        if fmt == "anthropic":
            named = choice.get("name") in ("web_search", "web_fetch")
            forced = choice.get("type") == "tool" and named
        else:
            forced = _web_kind(fmt, choice.get("type"))
    return own > 0 and not forced


def _web_kind(fmt: FormatName, kind: Any) -> bool:
    if not isinstance(kind, str):
        return False
    if fmt == "anthropic":
        return _ANTHROPIC.match(kind) is not None
    return kind in RESPONSES_SEARCH


def honours(target: FormatName, client: FormatName, tool: str) -> bool:
    """Whether a target of format ``target`` runs ``tool`` itself for a
    client of format ``client`` (the same format always: the request passes
    as sent)."""
    return target == client or tool in NATIVE.get(target, frozenset())


ANTHROPIC_BETAS = {"web_fetch_20250910": "web-fetch-2025-09-10"}
"""Anthropic tool versions that need a beta header."""


def anthropic_betas(body: dict[str, Any]) -> list[str]:
    """The ``anthropic-beta`` values a translated Anthropic body needs (web
    fetch rendered for another format's fetch tool)."""
    tools = body.get("tools")
    kinds = (
        {t.get("type") for t in tools if isinstance(t, dict)} if isinstance(tools, list) else set()
    )
    return [beta for kind, beta in ANTHROPIC_BETAS.items() if kind in kinds]


def client_name(client: FormatName, tool: str) -> str:
    """The tool as the client's format names it."""
    return CLIENT_TOOL.get((client, tool), tool)


def note(part: Part) -> str:
    """Words for a past web search or fetch, for a model that did not run
    it (every format renders history this way when it cannot carry it)."""
    if isinstance(part, WebSearchCall):
        if part.name == WEB_FETCH:
            return f"[web fetch: {part.url or ''}]"
        return f'[web search: "{part.query or ""}"]'
    if isinstance(part, WebSearchResults):
        if part.error:
            return f"[web search failed: {part.error}]"
        lines = ["[web search results]"]
        for i, r in enumerate(part.results, 1):
            line = f"{i}. {r.title or r.url} <{r.url}>"
            if r.snippet:
                line += f"\n{r.snippet}"
            lines.append(line)
        return "\n".join(lines)
    if isinstance(part, WebFetchResult):
        if part.error:
            return f"[web fetch failed: {part.error}]"
        return f"[fetched {part.url}]\n{part.text}"
    return ""
