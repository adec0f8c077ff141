"""Search backends for the engine's own ``web_search`` (targets without one):
a self-hosted SearXNG, or the Brave Search API with a key.

Both answer :class:`WebSearchResult` lists. The client's allowed and blocked
domains go into the query as ``site:`` operators (both backends pass them to
engines that honour them) and are applied again to the results, so a result
outside them never reaches the model. Errors are :class:`SearchError` with
Anthropic's ``web_search_tool_result_error`` codes. The API key is sent as
a header and never appears in a message or a log line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
from omniroute_mitm.translators.canonical import UserLocation, WebSearch, WebSearchResult

BRAVE_URL = "https://api.search.brave.com"
MAX_QUERY = 400
"""Characters; Brave's limit (and a sane one for any engine)."""
MAX_RESULTS = 8
TIMEOUT = 15.0
_TAGS = re.compile(r"<[^>]{0,200}>")

BackendName = Literal["searxng", "brave"]


class SearchError(Exception):
    """A search that failed; ``code``: ``unavailable``, ``too_many_requests``,
    ``query_too_long`` or ``invalid_input``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Scope:
    """What one search may return (from the client's tool definition)."""

    allowed_domains: Sequence[str] = ()
    blocked_domains: Sequence[str] = ()
    location: UserLocation | None = None

    @classmethod
    def of(cls, tool: WebSearch | None) -> Scope:
        if tool is None:
            return cls()
        return cls(
            [_domain(d) for d in tool.allowed_domains if _domain(d)],
            [_domain(d) for d in tool.blocked_domains if _domain(d)],
            tool.user_location,
        )

    def query(self, query: str) -> str:
        """``query`` with ``site:`` operators for the domains."""
        parts = [query]
        if self.allowed_domains:
            parts.append(" OR ".join(f"site:{d}" for d in self.allowed_domains))
        parts += [f"-site:{d}" for d in self.blocked_domains]
        return " ".join(parts)

    def admits(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if not host:
            return False
        if any(_within(host, d) for d in self.blocked_domains):
            return False
        return not self.allowed_domains or any(_within(host, d) for d in self.allowed_domains)


def _domain(value: str) -> str:
    """A bare host name from what a client wrote (``https://Example.com/x`` too)."""
    value = value.strip().lower()
    host = urlsplit(value).hostname if "://" in value else value.split("/", 1)[0]
    return (host or "").rstrip(".")


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


class Backend(Protocol):
    name: str

    async def search(self, query: str, scope: Scope) -> list[WebSearchResult]: ...


class _Base:
    name = "?"

    def __init__(self, client: httpx.AsyncClient, max_results: int = MAX_RESULTS) -> None:
        self.client = client
        self.max_results = max_results

    async def search(self, query: str, scope: Scope) -> list[WebSearchResult]:
        query = " ".join(query.split())
        if not query:
            raise SearchError("invalid_input", "the search query is empty")
        if len(query) > MAX_QUERY:
            raise SearchError("query_too_long", f"the query is longer than {MAX_QUERY} characters")
        data = await self._get(scope.query(query), scope)
        hits = [r for r in self._results(data) if scope.admits(r.url)]
        return hits[: self.max_results]

    async def _get(self, query: str, scope: Scope) -> Any:
        request = self._request(query, scope)
        try:
            response = await self.client.send(request)
        except httpx.TimeoutException:
            raise SearchError("unavailable", f"{self.name}: no answer in time") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise SearchError("unavailable", f"{self.name}: {reason}") from None
        if response.status_code == 429:
            raise SearchError("too_many_requests", f"{self.name}: rate limited (HTTP 429)")
        if response.status_code != 200:
            raise SearchError("unavailable", f"{self.name}: answered HTTP {response.status_code}"
                              f"{self._hint(response.status_code)}")  # fmt: skip
        try:
            return response.json()
        except ValueError:
            raise SearchError("unavailable", f"{self.name}: the answer is not JSON") from None

    def _request(self, query: str, scope: Scope) -> httpx.Request:
        raise NotImplementedError

    def _results(self, data: Any) -> list[WebSearchResult]:
        raise NotImplementedError

    def _hint(self, status: int) -> str:
        return ""


class Searxng(_Base):
    """A SearXNG instance's JSON API (``GET /search?q=...&format=json``; the
    instance must list ``json`` under ``search.formats`` in its settings).
    https://docs.searxng.org/dev/search_api.html"""

    name = "searxng"

    def __init__(self, url: str, client: httpx.AsyncClient, max_results: int = MAX_RESULTS):
        super().__init__(client, max_results)
        self.url = url.rstrip("/")

    def _request(self, query: str, scope: Scope) -> httpx.Request:
        params = {"q": query, "format": "json"}
        return self.client.build_request("GET", f"{self.url}/search", params=params)

    def _results(self, data: Any) -> list[WebSearchResult]:
        items = data.get("results") if isinstance(data, dict) else None
        return [
            WebSearchResult(
                url=item["url"],
                title=_text(item.get("title")),
                snippet=_text(item.get("content")),
                page_age=_text(item.get("publishedDate")),
            )
            for item in items or []
            if isinstance(item, dict) and isinstance(item.get("url"), str)
        ]

    def _hint(self, status: int) -> str:
        return " (is the json format enabled in its settings.yml?)" if status == 403 else ""


class Brave(_Base):
    """The Brave Search API's web search (``X-Subscription-Token``).
    https://api-dashboard.search.brave.com/api-reference/web/search/get
    (parameters), https://api.search.brave.com/app/documentation/web-search/responses
    (``web.results[]``: ``title``, ``url``, ``description``, ``age``)."""

    name = "brave"

    def __init__(self, key: str, client: httpx.AsyncClient, url: str = BRAVE_URL,
                 max_results: int = MAX_RESULTS) -> None:  # fmt: skip
        super().__init__(client, max_results)
        self._key = key
        self.url = url.rstrip("/")

    def __repr__(self) -> str:
        return f"Brave(url={self.url!r})"  # never the key

    def _request(self, query: str, scope: Scope) -> httpx.Request:
        params = {"q": query, "count": str(min(20, self.max_results * 2))}
        country = scope.location.country if scope.location else None
        if country and len(country) == 2:
            params["country"] = country.upper()
        headers = {"accept": "application/json", "x-subscription-token": self._key}
        url = f"{self.url}/res/v1/web/search"
        return self.client.build_request("GET", url, params=params, headers=headers)

    def _results(self, data: Any) -> list[WebSearchResult]:
        web = data.get("web") if isinstance(data, dict) else None
        items = web.get("results") if isinstance(web, dict) else None
        return [
            WebSearchResult(
                url=item["url"],
                title=_text(item.get("title")),
                snippet=_text(item.get("description")),
                page_age=_text(item.get("age") or item.get("page_age")),
            )
            for item in items or []
            if isinstance(item, dict) and isinstance(item.get("url"), str)
        ]

    def _hint(self, status: int) -> str:
        return " (the API key was refused)" if status in (401, 403) else ""


def _text(value: object) -> str | None:
    """Plain text of a backend's field (Brave marks matches with ``<strong>``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(html.unescape(_TAGS.sub("", value)).split())


def client(timeout: float = TIMEOUT) -> httpx.AsyncClient:
    """The backends' HTTP client: direct (no environment proxy), bounded."""
    return httpx.AsyncClient(
        trust_env=False, timeout=httpx.Timeout(timeout), follow_redirects=False
    )
