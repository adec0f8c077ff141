"""``stall_timeout``: a stream quiet that long after content is broken and
continued (see test_e2e_continue for the rest of continuation).

A module of its own: the timer here is short (2 s) to keep the tests quick,
and it watches every stream after content; the other continuation tests run
without one, so a loaded machine that holds a stream back for a moment
cannot cut theirs.
"""

from __future__ import annotations

import time

import pytest
from e2e_harness import FORMATS, flaky_config, other
from fakeprovider import Reply
from fakeprovider.sdk import call
from test_e2e_continue import (
    FIRST,
    SECOND,
    WORDS,
    at,
    broken,
    check_usage,
    cut,
    expect,
    records_with,
    wait_for_line,
)

pytestmark = pytest.mark.e2e

STALL = 2
"""Seconds (``resilience.stall_timeout``)."""


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    port = request.getfixturevalue("e2e_provider").port
    combos = {f"via-{fmt}": {"targets": [f"flaky-{fmt}/primary", f"fake-{other(fmt)}/backup"]}
              for fmt in FORMATS}  # fmt: skip
    combos["twice-openai-chat"] = {"targets": ["flaky-openai-chat/primary"]}
    return flaky_config(port, "cont", 5, combos, stall_timeout=STALL, max_continuations=2)


@pytest.mark.parametrize("client", ["anthropic", "openai-chat"])
def test_a_stall_after_content_is_a_break_and_continued(conn, fake, mitm, client):
    """A stream quiet ``stall_timeout`` after content is continued (the
    Anthropic client's same target fails, so its backup goes on by
    instruction; the chat client's same target goes on)."""
    stall = Reply(text=WORDS, usage=FIRST, fault="stall_mid_stream", stall=30)
    same_fails = [Reply(status=503)] if client == "anthropic" else []
    fake.script([stall, *same_fails, Reply(text=WORDS, usage=SECOND)])
    got = call(conn, client, f"cont-{client}", stream=True)
    assert got.text == WORDS
    assert got.stop == "end"
    check_usage(got)
    wait_for_line(mitm, f"no data for {STALL} s)]")  # the request's line: [continued on ...]
    assert records_with(mitm, f"no data for {STALL} s")  # the record says so too


@pytest.mark.parametrize("client", FORMATS)
def test_a_stall_is_continued_on_the_same_target(conn, fake, mitm, client):
    first, rest = cut(client, "stall")
    fake.script([first, rest])
    got = call(conn, client, f"via-{client}", stream=True, tools=True)
    expect(got, "stall")
    assert [c.format for c in fake.model_calls()] == [client, client]
    wait_for_line(mitm, f"continued on flaky-{client}/primary after")


@pytest.mark.parametrize("client", FORMATS)
def test_a_stall_is_continued_on_a_target_of_another_format(conn, fake, client):
    provider = other(client)
    first, rest = cut(provider, "stall")
    fake.script([first, Reply(status=500), rest])
    got = call(conn, client, f"via-{provider}", stream=True, tools=True)
    expect(got, "stall")
    assert [c.format for c in fake.model_calls()] == [provider, provider, other(provider)]


def test_a_continuation_reading_its_prompt_longer_than_the_stall_timeout_is_no_stall(
    conn, fake, mitm
):
    """``stall_timeout`` counts from the continuation's own content: before
    it, the model reads the prompt (time to first token, under the
    provider's timeout: 5 s here), which is no break of the continuation."""
    first = broken("drop")
    first.cut_at = at("openai-chat", first, b" w6")
    fake.script([first, Reply(text=WORDS, usage=SECOND, continues=True, think=STALL + 1.5)])
    got = call(conn, "openai-chat", "twice-openai-chat", stream=True)
    assert (got.text, got.stop) == (WORDS, "end")
    assert len(fake.model_calls()) == 2  # continued once, not broken again
    note = "continued on flaky-openai-chat/primary after"
    deadline = time.monotonic() + 10  # the request's log line: one continuation
    while not any(" twice-openai-chat -> " in x and x.count(note) == 1 for x in mitm.lines):
        assert time.monotonic() < deadline, "\n".join(mitm.lines[-20:])
        time.sleep(0.05)
