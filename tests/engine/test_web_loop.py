"""The web tool loop in the engine (in process): a page fetched for an
Anthropic client on a chat target (the fetcher allowed to reach the test's
own loopback server), and a search backend that is down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakeprovider import FakeProvider, Reply
from fakeweb import FakeWeb, Hit
from omniroute_mitm.engine.core.config import parse_config
from omniroute_mitm.engine.execute.webtools.fetch import Fetcher

pytestmark = pytest.mark.anyio

PAGE = """<html><head><title>Release notes</title></head><body>
<h1>Version 2.0</h1><p>Version 2.0 adds streaming.</p></body></html>"""


@pytest.fixture(scope="module")
def web_server() -> Iterator[FakeWeb]:
    with FakeWeb() as web:
        yield web


def config(fake: FakeProvider, search_url: str) -> object:
    return parse_config(f"""
providers:
  chat: {{format: openai-chat, base_url: "{fake.url}/v1"}}
routes:
  - to: chat/m
web_search: {{backend: searxng, url: "{search_url}"}}
""", env={})  # fmt: skip


def tool_messages(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m.get("role") == "tool"]


async def test_a_fetched_page_reaches_model_and_client(start_engine, fake_provider, web_server):
    url = web_server.page("notes", PAGE)
    fake_provider.script([
        Reply(tool_calls=[("web_fetch", {"url": url})]),
        Reply(text="Version 2.0 adds streaming."),
    ])  # fmt: skip
    harness = start_engine(config(fake_provider, web_server.url))
    harness.engine.runtime.web._fetcher = Fetcher(allow_for_tests=[("127.0.0.1", web_server.port)])
    response = await harness.post("/v1/messages", {
        "model": "claude-x", "max_tokens": 100,
        "tools": [{"type": "web_fetch_20250910", "name": "web_fetch", "max_content_tokens": 5}],
        "messages": [{"role": "user", "content": f"What is new in {url}?"}],
    })  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    kinds = [block["type"] for block in body["content"]]
    assert kinds == ["server_tool_use", "web_fetch_tool_result", "text"], body
    fetched = body["content"][1]["content"]
    assert fetched["url"] == url and fetched["content"]["title"] == "Release notes"
    document = fetched["content"]["source"]["data"]
    assert document == "Version 2.0\n\nVersion 2.0 adds streaming."[:20]  # 5 tokens: 20 chars
    assert body["usage"]["server_tool_use"]["web_fetch_requests"] == 1
    (told,) = tool_messages(fake_provider.model_calls()[-1].body)
    assert "Title: Release notes" in told and document in told


async def test_a_backend_that_is_down_is_an_error_block_and_the_model_is_told(
    start_engine, fake_provider, web_server
):
    web_server.state.searxng_status = 503
    fake_provider.script([
        Reply(tool_calls=[("web_search", {"query": "news"})]),
        Reply(text="Search is unavailable right now."),
    ])  # fmt: skip
    harness = start_engine(config(fake_provider, web_server.url))
    response = await harness.post("/v1/messages", {
        "model": "claude-x", "max_tokens": 100,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [{"role": "user", "content": "Any news?"}],
    })  # fmt: skip
    web_server.state.searxng_status = 200
    body = response.json()
    assert [block["type"] for block in body["content"]] == [
        "server_tool_use", "web_search_tool_result", "text"
    ]  # fmt: skip
    assert body["content"][1]["content"]["error_code"] == "unavailable"
    (told,) = tool_messages(fake_provider.model_calls()[-1].body)
    assert told == "Error: The search failed (searxng: answered HTTP 503)."


async def test_without_a_backend_search_is_refused_and_fetch_still_runs(
    start_engine, fake_provider, web_server
):
    plain = parse_config(f"""
providers:
  chat: {{format: openai-chat, base_url: "{fake_provider.url}/v1"}}
routes:
  - to: chat/m
""", env={})  # fmt: skip
    harness = start_engine(plain)
    search = await harness.post("/v1/messages", {
        "model": "claude-x", "max_tokens": 100,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [{"role": "user", "content": "Any news?"}],
    })  # fmt: skip
    assert search.status_code == 400
    error = search.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "web_search_20250305" in error["message"] and "web_search: {backend" in error["message"]
    assert fake_provider.model_calls() == []

    fake_provider.script([
        Reply(tool_calls=[("web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"})]),
        Reply(text="Not allowed."),
    ])  # fmt: skip
    fetch = await harness.post("/v1/messages", {
        "model": "claude-x", "max_tokens": 100,
        "tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}],
        "messages": [{"role": "user", "content": "Read http://169.254.169.254/latest/meta-data/"}],
    })  # fmt: skip
    body = fetch.json()
    assert [b["type"] for b in body["content"]] == [
        "server_tool_use", "web_fetch_tool_result", "text"
    ]  # fmt: skip
    assert body["content"][1]["content"]["error_code"] == "url_not_allowed"


async def test_the_brave_backend_gets_its_key_and_nobody_else_does(start_engine, fake_provider):
    key = "bk-loop-secret-9876"
    with FakeWeb(brave_keys=[key]) as brave:
        brave.results["weather paris"] = [Hit("https://meteo.example/paris", "Paris", "Rain.")]
        settings = parse_config(f"""
providers:
  chat: {{format: openai-chat, base_url: "{fake_provider.url}/v1"}}
routes:
  - to: chat/m
web_search: {{backend: brave, url: "{brave.url}", api_key_env: BRAVE_TEST_KEY}}
""", env={"BRAVE_TEST_KEY": key})  # fmt: skip
        fake_provider.script([
            Reply(tool_calls=[("web_search", {"query": "weather paris"})]),
            Reply(text="Rain in Paris."),
        ])  # fmt: skip
        harness = start_engine(settings)
        response = await harness.post("/v1/messages", {
            "model": "claude-x", "max_tokens": 100, "stream": True,
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
        })  # fmt: skip
        assert response.status_code == 200
        assert '"url":"https://meteo.example/paris"' in response.text
        assert '"server_tool_use":{"web_search_requests":1' in response.text
        assert brave.hits[-1][1]["x-subscription-token"] == key
    assert all(not call.carries(key) for call in fake_provider.model_calls())
    assert key not in response.text


async def test_a_forced_search_is_forced_once(start_engine, fake_provider, web_server):
    fake_provider.script([
        Reply(tool_calls=[("web_search", {"query": "news"})]),
        Reply(text="Here is the news."),
    ])  # fmt: skip
    harness = start_engine(config(fake_provider, web_server.url))
    response = await harness.post("/v1/messages", {
        "model": "claude-x", "max_tokens": 100,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "tool", "name": "web_search"},
        "messages": [{"role": "user", "content": "Any news?"}],
    })  # fmt: skip
    assert response.status_code == 200, response.text
    first, second = (c.body for c in fake_provider.model_calls())
    assert first["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
    assert second.get("tool_choice", "auto") == "auto"
    assert response.json()["content"][-1]["text"] == "Here is the news."
