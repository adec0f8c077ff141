"""The engine's metrics pages: ``/omniroute/metrics`` (the front's, with its
secret) and ``/metrics`` (the front, or a scraper with the direct token),
counting what requests to the real engine did."""

from __future__ import annotations

import asyncio
import json

import pytest
from enginefakes import Reply, make_config
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.anyio

CONFIG = """
providers:
  one: {format: openai-chat, base_url: "UPSTREAM/one/v1", keys: [sk-one-key-0001]}
  two: {format: openai-chat, base_url: "UPSTREAM/two/v1", keys: [sk-two-key-0001]}
combos:
  pair: {targets: [one/m1, two/m2]}
routes:
  - match: {model: "pair"}
    to: pair
"""
BODY = {"model": "pair", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
}  # fmt: skip
OK = Reply(200, [json.dumps(ANSWER).encode()])
TOKEN = "tok-metrics-123"


@pytest.fixture
def engine(upstream, start_engine):
    return start_engine(make_config(CONFIG, upstream), direct_token=TOKEN)


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_fallback_a_cooldown_and_the_tokens_on_the_front_metrics_page(engine, upstream):
    upstream.script("/one/v1/chat/completions", Reply(429, [b"{}"], {"retry-after": "60"}))
    upstream.script("/two/v1/chat/completions", OK)
    assert (await engine.post("/v1/chat/completions", BODY)).status_code == 200
    page = await engine.client.get("/omniroute/metrics", headers=engine.headers())
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = parse(page.text)

    def get(name: str, **labels: str) -> float | None:
        return found.get((name, frozenset(labels.items())))

    assert get("omniroute_requests_total", client="openai-chat", kind="generate", route="pair",
               provider="two", outcome="ok") == 1  # fmt: skip
    assert get("omniroute_fallbacks_total", from_provider="one", to_provider="two",
               **{"class": "rate_limited"}) == 1  # fmt: skip
    assert get("omniroute_tokens_total", provider="two", model="m2", **{"class": "input"}) == 11
    assert get("omniroute_tokens_total", provider="two", model="m2", **{"class": "output"}) == 7
    left = get("omniroute_cooldown_seconds", target="one/m1", key="one#1")
    assert left is not None and 50 < left <= 60
    assert get("omniroute_cooling_down", target="one/m1", key="one#1",
               reason="rate_limited") == 1  # fmt: skip
    assert get("omniroute_in_flight_requests") == 0
    assert get("omniroute_in_flight_streams") == 0


async def test_the_engines_own_metrics_need_the_secret_or_the_direct_token(engine):
    refused = await engine.client.get("/metrics")
    assert refused.status_code == 403 and "http://omniroute/metrics" in refused.text
    wrong = await engine.client.get("/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 403
    scraper = await engine.client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert scraper.status_code == 200 and "omniroute_requests_total" in scraper.text
    front = await engine.client.get("/metrics", headers=engine.headers())
    assert front.status_code == 200
    # the front's page is the front's only, as the other pages
    page = await engine.client.get("/omniroute/metrics",
                                   headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert page.status_code == 403


CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hel"},
                      "finish_reason": None}]}  # fmt: skip


async def test_a_stream_in_flight_shows_on_the_gauges_until_it_ends(engine, upstream):
    sse = {"content-type": "text/event-stream"}
    upstream.script("/one/v1/chat/completions",
                    Reply(200, [f"data: {json.dumps(CHUNK)}\n\n".encode()], sse, hang=True))
    headers = engine.headers()

    async def gauges() -> tuple[float | None, float | None]:
        page = await engine.client.get("/omniroute/metrics", headers=headers)
        found = parse(page.text)
        return (found.get(("omniroute_in_flight_streams", frozenset())),
                found.get(("omniroute_in_flight_requests", frozenset())))  # fmt: skip

    async with engine.client.stream("POST", "/v1/chat/completions", headers=headers,
                                    json={**BODY, "stream": True}) as resp:  # fmt: skip
        async for chunk in resp.aiter_bytes():
            assert b"hel" in chunk
            break
        assert await gauges() == (1, 1)
    for _ in range(100):  # the engine sees the client go at its next turn
        if await gauges() == (0, 0):
            break
        await asyncio.sleep(0.05)
    assert await gauges() == (0, 0)
