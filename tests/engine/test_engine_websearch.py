"""Server-side web tools in the engine: a request whose search tool no
target can run is refused in the client's format and reaches no provider,
unless ``web_search: {unsupported: drop}`` asks for the old behaviour."""

from __future__ import annotations

import json

import pytest
from enginefakes import Reply, make_config

pytestmark = pytest.mark.anyio

CONFIG = """
providers:
  chat: {format: openai-chat, base_url: "UPSTREAM/chat/v1", keys: [sk-chat-provider-key]}
routes:
  - match: {}
    to: chat/up-model
"""
CHAT_JSON = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "from memory"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}  # fmt: skip
SEARCH = {
    "model": "claude-x", "max_tokens": 50,
    "messages": [{"role": "user", "content": "news today?"}],
    "tools": [{"type": "web_search_20250305", "name": "web_search"}],
}  # fmt: skip


async def test_a_search_no_target_can_run_is_refused_in_the_clients_format(
    start_engine, upstream
):
    engine = start_engine(make_config(CONFIG, upstream))
    resp = await engine.post("/v1/messages", SEARCH)
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert "web_search_20250305" in message and "chat/up-model" in message
    assert "web_search: {backend: ...}" in message and "web_search: {unsupported: drop}" in message
    assert upstream.seen == []


async def test_unsupported_drop_sends_it_without_the_tool(start_engine, upstream):
    config = make_config(CONFIG + "web_search: {unsupported: drop}\n", upstream)
    engine = start_engine(config)
    upstream.script("/chat/v1/chat/completions", Reply(200, [json.dumps(CHAT_JSON).encode()]))
    resp = await engine.post("/v1/messages", SEARCH)
    assert resp.status_code == 200 and resp.json()["content"][0]["text"] == "from memory"
    (seen,) = upstream.seen
    sent = json.loads(seen.body)
    assert "tools" not in sent and "web_search_options" not in sent


async def test_a_chat_clients_search_options_still_reach_a_chat_provider(start_engine, upstream):
    """The same format passes as sent: a search model there runs it."""
    engine = start_engine(make_config(CONFIG, upstream))
    upstream.script("/chat/v1/chat/completions", Reply(200, [json.dumps(CHAT_JSON).encode()]))
    body = {"model": "gpt-4o-search-preview", "web_search_options": {},
            "messages": [{"role": "user", "content": "news?"}]}  # fmt: skip
    resp = await engine.post("/v1/chat/completions", body)
    assert resp.status_code == 200
    assert json.loads(upstream.seen[0].body)["web_search_options"] == {}
