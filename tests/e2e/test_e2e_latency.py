"""Streaming stays incremental: the proxy adds milliseconds, not a buffered body."""

from __future__ import annotations

import time

import pytest
from e2e_harness import FORMATS
from fakeprovider import Reply
from ttfb import compare, median_ms, report

pytestmark = pytest.mark.e2e


def test_added_time_to_first_byte_is_small(fake, mitm, record_property):
    results = compare(fake, mitm, runs=20, events=200)
    text = report(results)
    print("\n" + text)
    record_property("ttfb", text)
    direct = median_ms(results["direct"], "ttfb")
    for name in ("proxy, same format", "proxy, anthropic->openai-chat"):
        # Loopback: measured ~15-30 ms on 2 busy cores. The bound leaves room for
        # a loaded CI box; a stalled or buffered stream would blow it.
        assert median_ms(results[name], "ttfb") - direct < 150, text


def first_text_delta_times(conn, client: str, model: str) -> list[float]:
    """When each streamed text piece reached the SDK (seconds since the call)."""
    start, times = time.monotonic(), []
    msgs = [{"role": "user", "content": "count"}]
    if client == "openai-chat":
        for chunk in conn.openai().chat.completions.create(model=model, messages=msgs,
                                                            stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(time.monotonic() - start)
    elif client == "openai-responses":
        for event in conn.openai("openai-responses").responses.create(
                model=model, input=msgs, stream=True):
            if event.type == "response.output_text.delta":
                times.append(time.monotonic() - start)
    elif client == "anthropic":
        for event in conn.anthropic().messages.create(model=model, max_tokens=50, messages=msgs,
                                                      stream=True):
            if event.type == "content_block_delta":
                times.append(time.monotonic() - start)
    else:
        for chunk in conn.gemini().models.generate_content_stream(model=model, contents="count"):
            if chunk.text:
                times.append(time.monotonic() - start)
    return times


@pytest.mark.parametrize("client", FORMATS)
def test_text_arrives_piece_by_piece(conn, fake, client):
    provider = {"openai-chat": "gemini", "openai-responses": "anthropic",
                "anthropic": "openai-chat", "gemini": "openai-responses"}[client]
    fake.script([Reply(text="one two three four five six", delay_between=0.15)])
    times = first_text_delta_times(conn, client, f"to-{provider}")
    assert len(times) >= 3, times
    # The provider spends >= 0.9 s between its first and last piece: a client that
    # got everything at once was served a buffered body.
    assert times[-1] - times[0] > 0.5, times
