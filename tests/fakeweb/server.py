"""The fake web server (see the package doc): its own thread and event loop."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web


@dataclass(slots=True)
class Hit:
    """One search result, as the fake backends serve it."""

    url: str
    title: str
    snippet: str = ""
    age: str | None = None


@dataclass(slots=True)
class Page:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """After the head and the body, send nothing more and never finish."""


@dataclass
class _State:
    brave_keys: set[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    results: dict[str, list[Hit]] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    searxng_status: int = 200

    def hits_for(self, query: str) -> list[Hit]:
        """Scripted for the query without its ``site:`` operators, else made up."""
        words = query.split()
        query = " ".join(w for w in words if w != "OR" and not w.lstrip("-").startswith("site:"))
        with self.lock:
            scripted = self.results.get(query)
        if scripted is not None:
            return scripted
        slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-") or "q"
        url = f"https://example.com/{slug}"
        return [Hit(f"{url}/{i}", f"{query} ({i})", f"Page {i} on {query}.") for i in (1, 2, 3)]


class _Base(tornado.web.RequestHandler):
    def initialize(self, state: _State, stopping: asyncio.Event) -> None:
        self.state = state
        self.stopping = stopping

    def prepare(self) -> None:
        headers = {k.lower(): v for k, v in self.request.headers.get_all()}
        with self.state.lock:
            self.state.hits.append((self.request.uri or "", headers))

    def send_json(self, status: int, data: Any) -> None:
        self.set_status(status)
        self.set_header("content-type", "application/json")
        self.finish(json.dumps(data))


class SearxngHandler(_Base):
    async def get(self) -> None:
        if self.get_query_argument("format", "") != "json":
            self.send_error(403)  # a SearXNG without the JSON format enabled answers so
            return
        if self.state.searxng_status != 200:
            self.send_json(self.state.searxng_status, {"error": "scripted"})
            return
        query = self.get_query_argument("q", "")
        hits = self.state.hits_for(query)
        results = [
            {"url": h.url, "title": h.title, "content": h.snippet, "engine": "fake",
             "publishedDate": h.age}
            for h in hits
        ]  # fmt: skip
        self.send_json(200, {"query": query, "number_of_results": len(results),
                             "results": results, "answers": [], "suggestions": []})  # fmt: skip


class BraveHandler(_Base):
    async def get(self) -> None:
        if self.request.headers.get("x-subscription-token") not in self.state.brave_keys:
            error = {"id": "x", "status": 401, "code": "SUBSCRIPTION_TOKEN_INVALID",
                     "detail": "The provided subscription token is invalid."}  # fmt: skip
            self.send_json(401, {"type": "ErrorResponse", "error": error})
            return
        query = self.get_query_argument("q", "")
        count = int(self.get_query_argument("count", "20"))
        hits = self.state.hits_for(query)[:count]
        results = [
            {"type": "search_result", "title": h.title, "url": h.url, "description": h.snippet,
             **({"age": h.age} if h.age else {})}
            for h in hits
        ]  # fmt: skip
        self.send_json(200, {"type": "search", "query": {"original": query},
                             "web": {"type": "search", "results": results}})  # fmt: skip


class PageHandler(_Base):
    async def get(self, name: str) -> None:
        with self.state.lock:
            page = self.state.pages.get(name)
        if page is None:
            self.send_error(404)
            return
        self.set_status(page.status)
        self.clear_header("content-type")
        for key, value in page.headers.items():
            self.set_header(key, value)
        if not page.hang:
            self.finish(page.body)
            return
        self.write(page.body)
        await self.flush()
        await self.stopping.wait()


class FakeWeb:
    def __init__(
        self,
        brave_keys: list[str] | None = None,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.tls = tls
        """Serve HTTPS with this server context."""
        self.port = 0
        self.state = _State(set(brave_keys or []))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> FakeWeb:
        sockets = tornado.netutil.bind_sockets(0, self.host, backlog=128)
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._stopping = asyncio.Event()
            args = {"state": self.state, "stopping": self._stopping}
            app = tornado.web.Application([
                (r"/search", SearxngHandler, args),
                (r"/res/v1/web/search", BraveHandler, args),
                (r"/p/(.+)", PageHandler, args),
            ])  # fmt: skip
            server = tornado.httpserver.HTTPServer(app, ssl_options=self.tls)
            server.add_sockets(sockets)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()
            server.stop()
            self._loop.run_until_complete(server.close_all_connections())
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"fakeweb:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if not self._loop or not self._thread or not self._stopping:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def results(self) -> dict[str, list[Hit]]:
        return self.state.results

    @property
    def hits(self) -> list[tuple[str, dict[str, str]]]:
        with self.state.lock:
            return list(self.state.hits)

    def page(self, name: str, body: bytes | str = b"", *, status: int = 200,
             content_type: str | None = "text/html; charset=utf-8", hang: bool = False,
             headers: dict[str, str] | None = None) -> str:  # fmt: skip
        """Serve ``body`` at ``/p/<name>``; returns its URL."""
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["content-type"] = content_type
        data = body.encode() if isinstance(body, str) else body
        with self.state.lock:
            self.state.pages[name] = Page(status, data, all_headers, hang)
        return f"{self.url}/p/{name}"

    def redirect(self, name: str, location: str, status: int = 302) -> str:
        return self.page(name, status=status, content_type=None, headers={"location": location})

    def reset(self) -> None:
        with self.state.lock:
            self.state.results.clear()
            self.state.pages.clear()
            self.state.hits.clear()
            self.state.searxng_status = 200
