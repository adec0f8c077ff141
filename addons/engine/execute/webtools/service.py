"""The engine's web tools as the runtime keeps them: the search backend of
the current config (made again when ``web_search:`` changes) and one
fetcher."""

from __future__ import annotations

import httpx
from omniroute_mitm.engine.core.config import WebSearchConfig

from . import search
from .fetch import Fetcher
from .search import Backend


class Web:
    def __init__(self) -> None:
        self._settings: WebSearchConfig | None = None
        self._backend: Backend | None = None
        self._client: httpx.AsyncClient | None = None
        self._fetcher: Fetcher | None = None
        self._old: list[httpx.AsyncClient] = []

    def backend(self, settings: WebSearchConfig) -> Backend | None:
        """The backend ``settings`` name (None: off)."""
        if settings is not self._settings:
            self._settings, self._backend = settings, self._make(settings)
        return self._backend

    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher()
        return self._fetcher

    def _make(self, settings: WebSearchConfig) -> Backend | None:
        if self._client is not None:
            self._old.append(self._client)  # closed at the end: a search may still use it
        self._client = None
        if settings.backend is None:
            return None
        self._client = search.client(settings.timeout)
        if settings.backend == "brave":
            key = settings.api_key or ""
            url = settings.url or search.BRAVE_URL
            return search.Brave(key, self._client, url, max_results=settings.max_results)
        assert settings.url is not None
        return search.Searxng(settings.url, self._client, max_results=settings.max_results)

    async def aclose(self) -> None:
        for client in [*self._old, *([self._client] if self._client else [])]:
            await client.aclose()
        if self._fetcher is not None:
            await self._fetcher.aclose()
