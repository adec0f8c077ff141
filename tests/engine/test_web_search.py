"""The search backends against the fake web on loopback: a SearXNG instance
and the Brave Search API (its base URL pointed at the fake)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fakeweb import FakeWeb, Hit
from omniroute_mitm.engine.execute.webtools import search
from omniroute_mitm.engine.execute.webtools.search import Brave, Scope, SearchError, Searxng
from omniroute_mitm.translators.canonical import UserLocation, WebSearch

pytestmark = pytest.mark.anyio

KEY = "bk-test-secret-1234"


@pytest.fixture(scope="module")
def web_server() -> Iterator[FakeWeb]:
    with FakeWeb(brave_keys=[KEY]) as web:
        yield web


@pytest.fixture
def web(web_server: FakeWeb) -> Iterator[FakeWeb]:
    web_server.reset()
    yield web_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = search.client(timeout=5)
    yield client
    await client.aclose()


MIXED = [
    Hit("https://docs.example.com/a", "Docs <b>A</b>", "About &amp; more"),
    Hit("https://example.com/b", "B", "b"),
    Hit("https://blog.example.com/c", "C", "c"),
    Hit("https://other.org/d", "D", "d"),
    Hit("https://notexample.com/e", "E", "e"),
]


def sent_query(web: FakeWeb) -> dict[str, list[str]]:
    return parse_qs(urlsplit(web.hits[-1][0]).query)


async def test_searxng_answers_results(web: FakeWeb, http: httpx.AsyncClient) -> None:
    backend = Searxng(web.url, http)
    results = await backend.search("rust  borrow checker", Scope())
    assert [r.url for r in results] == [f"https://example.com/rust-borrow-checker/{i}"
                                        for i in (1, 2, 3)]  # fmt: skip
    assert results[0].title == "rust borrow checker (1)"
    assert results[0].snippet == "Page 1 on rust borrow checker."
    assert sent_query(web) == {"q": ["rust borrow checker"], "format": ["json"]}


async def test_domains_scope_the_query_and_the_results(
    web: FakeWeb, http: httpx.AsyncClient
) -> None:
    web.results["news"] = MIXED
    backend = Searxng(web.url, http)
    tool = WebSearch(allowed_domains=["example.com", "https://other.org/"],
                     blocked_domains=["blog.example.com"])  # fmt: skip
    results = await backend.search("news", Scope.of(tool))
    assert [r.url for r in results] == [
        "https://docs.example.com/a",
        "https://example.com/b",
        "https://other.org/d",
    ]
    assert results[0].title == "Docs A" and results[0].snippet == "About & more"
    assert sent_query(web)["q"] == [
        "news site:example.com OR site:other.org -site:blog.example.com"
    ]
    blocked = await backend.search("news", Scope.of(WebSearch(blocked_domains=["example.com"])))
    assert [r.url for r in blocked] == ["https://other.org/d", "https://notexample.com/e"]


async def test_brave_sends_the_key_and_the_country(web: FakeWeb, http: httpx.AsyncClient) -> None:
    web.results["weather"] = [
        Hit("https://met.example/x", "Met", "<strong>Rain</strong>", "2 days ago")
    ]
    backend = Brave(KEY, http, url=web.url, max_results=5)
    scope = Scope.of(WebSearch(user_location=UserLocation(country="fr")))
    results = await backend.search("weather", scope)
    assert [(r.url, r.title, r.snippet, r.page_age) for r in results] == [
        ("https://met.example/x", "Met", "Rain", "2 days ago")
    ]
    path, headers = web.hits[-1]
    assert headers["x-subscription-token"] == KEY
    assert sent_query(web) == {"q": ["weather"], "count": ["10"], "country": ["FR"]}
    assert KEY not in repr(backend)


async def test_brave_with_a_wrong_key_fails_without_showing_it(
    web: FakeWeb, http: httpx.AsyncClient
) -> None:
    backend = Brave("bk-wrong-5678", http, url=web.url)
    with pytest.raises(SearchError) as info:
        await backend.search("weather", Scope())
    assert info.value.code == "unavailable"
    assert info.value.message == "brave: answered HTTP 401 (the API key was refused)"


async def test_searxng_without_json_format_says_so(web: FakeWeb, http: httpx.AsyncClient) -> None:
    web.state.searxng_status = 429
    with pytest.raises(SearchError) as info:
        await Searxng(web.url, http).search("x", Scope())
    assert info.value.code == "too_many_requests"

    class NoJson(Searxng):
        def _request(self, query: str, scope: Scope) -> httpx.Request:
            return self.client.build_request("GET", f"{self.url}/search", params={"q": query})

    with pytest.raises(SearchError, match="is the json format enabled"):
        await NoJson(web.url, http).search("x", Scope())


async def test_bad_queries_and_a_dead_backend(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening
        backend = Searxng(dead, http)
        for query, code in (("  ", "invalid_input"), ("x" * 401, "query_too_long"),
                            ("fine", "unavailable")):  # fmt: skip
            with pytest.raises(SearchError) as info:
                await backend.search(query, Scope())
            assert info.value.code == code
