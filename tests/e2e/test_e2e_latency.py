"""Streaming stays incremental: the proxy adds milliseconds, not a buffered body."""

from __future__ import annotations

import threading
import time

import pytest
from e2e_harness import CLIENT_KEY, FORMATS, client_ssl_context
from fakeprovider import Reply
from fakeprovider.sdk import Conn, call
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
    words = "one two three four five six seven eight nine ten"
    fake.script([Reply(text=words, delay_between=0.15)])
    times = first_text_delta_times(conn, client, f"to-{provider}")
    assert len(times) >= 3, times
    # The provider spends >= 1.5 s between its first and last piece: a client that
    # got everything at once was served a buffered body (and a stall of half a
    # second on a busy machine, bunching the first pieces, is not mistaken for one).
    assert times[-1] - times[0] > 0.5, times


def test_keepalive_pings_while_the_provider_thinks(mitm, fake):
    """A provider silent for 13 s: every client gets bytes (headers and pings in its own
    format, due every 10 s) before then, and its SDK still parses the whole stream.
    All four clients run at once, so the suite waits once."""
    fake.default = Reply(text="worth the wait", delay_first_byte=13)
    results: dict[str, object] = {}

    def run(client: str) -> None:
        start, headers_at = [0.0], []
        hooks = {"response": [lambda r: headers_at.append(time.monotonic() - start[0])]}
        with Conn(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), api_key=CLIENT_KEY,
                  timeout=40, event_hooks=hooks) as conn:
            try:
                start[0] = time.monotonic()
                got = call(conn, client, "to-openai-chat", stream=True)
                results[client] = (got.text, headers_at[0] if headers_at else None)
            except Exception as exc:  # reported below, per client
                results[client] = exc

    threads = [threading.Thread(target=run, args=(c,)) for c in FORMATS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for client in FORMATS:
        outcome = results.get(client)
        assert not isinstance(outcome, Exception), f"{client}: {outcome!r}"
        assert outcome is not None, f"{client}: no result"
        text, headers_at = outcome
        assert text == "worth the wait", client
        assert headers_at is not None and headers_at < 12.5, \
            f"{client}: nothing reached the client for {headers_at} s"
