"""The router's memory across requests, seen from a client of the real engine:
a cooled-down key is not tried first, an open breaker is not tried at all,
the status page says so, quota headers move a target back."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from enginefakes import Reply, make_config
from omniroute_mitm.engine.core.headers import ORIGINAL_URL_HEADER

pytestmark = pytest.mark.anyio

CONFIG = """
providers:
  one: {format: openai-chat, base_url: "UPSTREAM/one/v1", keys: [sk-one-key-0001, sk-one-key-0002]}
  two: {format: openai-chat, base_url: "UPSTREAM/two/v1", keys: [sk-two-key-0001]}
combos:
  pair: {targets: [one/m1, two/m2]}
  subscription: {targets: [native, two/m2]}
  windows:
    targets:
      - {to: one/small, context_window: 8000}
      - {to: two/small, context_window: 8000}
      - {to: two/big, context_window: 200000}
routes:
  - match: {model: "pair"}
    to: pair
  - match: {model: "claude-on-my-plan"}
    to: subscription
  - match: {model: "long"}
    to: windows
resilience: {breaker_failures: 3, breaker_reset: 30, backoff: 0.001, backoff_max: 0.001}
"""
BODY = {"model": "pair", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
OK = Reply(200, [json.dumps(ANSWER).encode()])


@pytest.fixture
def engine(upstream, start_engine):
    return start_engine(make_config(CONFIG, upstream))


def paths(upstream) -> list[str]:
    return [f"{s.uri.split('/')[1]}:{s.headers['authorization'][-4:]}" for s in upstream.seen]


async def status(engine) -> dict:
    resp = await engine.client.get("/omniroute/status", headers=engine.headers())
    assert resp.status_code == 200
    return resp.json()


def key_state(page: dict, target: str, key: str) -> dict:
    targets = page["combos"]["pair"]["targets"]
    entry = next(t for t in targets if t["target"] == target)
    return next(k for k in entry["keys"] if k["key"] == key) | {"breaker": entry["breaker"]}


async def test_a_429_with_retry_after_cools_the_key_down_for_the_next_requests(engine, upstream):
    upstream.script("/one/v1/chat/completions", Reply(429, [b"{}"], {"retry-after": "30"}), OK)
    upstream.script("/one/v1/chat/completions", OK)
    assert (await engine.post("/v1/chat/completions", BODY)).status_code == 200
    assert (await engine.post("/v1/chat/completions", BODY)).status_code == 200
    # the first key answered 429: the next request starts on the second key
    assert paths(upstream) == ["one:0001", "one:0002", "one:0002"]
    page = await status(engine)
    cooled = key_state(page, "one/m1", "one#1")
    assert cooled["state"] == "cooling down (rate_limited)" and cooled["until"] > page["time"]
    assert key_state(page, "one/m1", "one#2")["state"] == "ok"
    assert "sk-one" not in json.dumps(page)


async def test_an_open_breaker_skips_the_dead_target_without_trying_it(engine, upstream):
    for _ in range(3):  # both keys of one/m1 fail with a 503 each time
        upstream.script("/one/v1/chat/completions", Reply(503, [b"{}"]), Reply(503, [b"{}"]))
        upstream.script("/two/v1/chat/completions", OK)
        assert (await engine.post("/v1/chat/completions", BODY)).status_code == 200
    upstream.seen.clear()
    upstream.script("/two/v1/chat/completions", OK)
    started = time.monotonic()
    resp = await engine.post("/v1/chat/completions", BODY)
    assert resp.status_code == 200 and time.monotonic() - started < 1
    assert paths(upstream) == ["two:0001"]  # the dead target costs nothing
    assert key_state(await status(engine), "one/m1", "one#1")["breaker"] == "open"


async def test_the_status_page_needs_the_engine_secret(engine):
    resp = await engine.client.get("/omniroute/status")
    assert resp.status_code == 403
    assert "sk-" not in resp.text
    missing = await engine.client.get("/omniroute/nothing", headers=engine.headers())
    assert missing.status_code == 404


async def test_quota_near_the_limit_moves_a_target_back_until_its_reset(engine, upstream):
    reset = time.time() + 1.0
    headers = {
        "content-type": "application/json",
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": "4",  # 96% used
        "x-ratelimit-reset-requests": "1s",
    }
    upstream.script("/one/v1/chat/completions", Reply(200, OK.chunks, headers), OK)
    await engine.post("/v1/chat/completions", BODY)
    await engine.post("/v1/chat/completions", BODY)
    # one#1 is near its limit: one#2 (same target, another key) goes first
    assert paths(upstream) == ["one:0001", "one:0002"]
    quota = key_state(await status(engine), "one/m1", "one#1")["quota"]
    assert quota["utilization"] == 0.96 and quota["window"] == "requests"
    await asyncio.sleep(max(0.0, reset - time.time()) + 0.1)
    upstream.script("/one/v1/chat/completions", OK)
    await engine.post("/v1/chat/completions", BODY)
    assert paths(upstream)[-1] == "one:0001"  # after the reset it is first again


async def test_the_users_own_subscription_moves_behind_near_its_window_and_back(engine, upstream):
    """[native, two/m2]: the client keeps its own plan until the 5-hour window is
    96% used, then the next target answers, and after the reset native again."""
    reset = time.time() + 1.0
    window = {
        "content-type": "application/json",
        "anthropic-ratelimit-unified-5h-utilization": "0.96",
        "anthropic-ratelimit-unified-5h-reset": str(int(reset) + 1),
        "anthropic-ratelimit-unified-5h-status": "allowed_warning",
    }
    upstream.script("/native/v1/chat/completions", Reply(200, OK.chunks, window), OK)
    upstream.script("/two/v1/chat/completions", OK)
    native = {ORIGINAL_URL_HEADER: f"{upstream.url}/native/v1/chat/completions"}
    body = {**BODY, "model": "claude-on-my-plan"}
    for _ in range(2):
        resp = await engine.post("/v1/chat/completions", body, headers=native)
        assert resp.status_code == 200
    assert [s.uri.split("/")[1] for s in upstream.seen] == ["native", "two"]
    page = await status(engine)
    (seen,) = page["native"].values()
    assert seen["utilization"] == 0.96 and seen["window"] == "unified-5h"
    await asyncio.sleep(max(0.0, int(reset) + 1 - time.time()) + 0.1)
    await engine.post("/v1/chat/completions", body, headers=native)
    assert [s.uri.split("/")[1] for s in upstream.seen][-1] == "native"


async def test_context_too_long_goes_to_a_target_with_a_larger_window(engine, upstream):
    too_long = b'{"error": {"message": "This model\'s maximum context length is 8000 tokens"}}'
    upstream.script("/one/v1/chat/completions", Reply(400, [too_long]))
    upstream.script("/two/v1/chat/completions", OK)
    resp = await engine.post("/v1/chat/completions", {**BODY, "model": "long"})
    assert resp.status_code == 200
    # one/small failed; its second key and two/small (as small) are not tried
    sent = [(s.uri.split("/")[1], json.loads(s.body)["model"]) for s in upstream.seen]
    assert sent == [("one", "small"), ("two", "big")]
    page = await status(engine)
    small = page["combos"]["windows"]["targets"][0]["keys"][0]
    assert small["state"] == "ok"  # the request's size is not the target's fault
