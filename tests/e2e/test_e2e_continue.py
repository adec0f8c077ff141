"""A stream that breaks after its first tokens is continued, not lost.

Through mitmdump, with each official SDK as the client: the provider's
stream breaks after some content (a dropped connection, an overloaded
error event); the engine asks again with what the client already got as the
assistant's partial turn and splices the continuation into the client's
open stream. Each SDK's accumulator ends with one coherent message: the
text once (no repeat, no gap), one stop reason, usage of both attempts.

Each client's combo is ``[flaky-<client>/primary, fake-<other>/backup]``:
the same target continues first (same format: the passed-through stream
switches to translated); when it fails, the next target does (another
format). An Anthropic target continues a prefill exactly; the others are
asked by instruction and repeat the answer from its start here (the
repeat is trimmed).
"""

from __future__ import annotations

import time

import pytest
from e2e_harness import FORMATS, Mitmdump, base_url, e2e_config, provider_key
from fakeprovider import Reply, Usage
from fakeprovider.sdk import call
from fakeprovider.upstream import last_user_text

pytestmark = pytest.mark.e2e

WORDS = " ".join(f"w{i}" for i in range(1, 25))
"""The whole answer (split into one delta a word by the fake provider)."""
FIRST = Usage(input=100, output=50)
SECOND = Usage(input=120, output=30)


def other(fmt: str) -> str:
    return FORMATS[(FORMATS.index(fmt) + 1) % len(FORMATS)]


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    port = request.getfixturevalue("e2e_provider").port
    providers = {
        f"flaky-{fmt}": {
            "format": fmt,
            "base_url": base_url(fmt, port),
            "keys": [provider_key(fmt)],
            "timeout": 5,
        }
        for fmt in FORMATS
    }
    combos = {
        f"cont-{fmt}": {"targets": [f"flaky-{fmt}/primary", f"fake-{other(fmt)}/backup"]}
        for fmt in FORMATS
    }
    routes = [{"match": {"model": name}, "to": name} for name in combos]
    config = e2e_config(port, providers, combos, routes)
    config["resilience"] = {
        "rate_limit_cooldown": 0.001,
        "rate_limit_max": 0.001,
        "backoff": 0.001,
        "backoff_max": 0.001,
        "breaker_failures": 10000,
    }
    return config


def broken(fault: str) -> Reply:
    if fault == "drop":
        return Reply(text=WORDS, usage=FIRST, drop_mid_stream=True)
    return Reply(text=WORDS, usage=FIRST, error_mid_stream=True, error_message="Overloaded")


def continuation(target: str) -> tuple[list[Reply], str]:
    """What the continuing target answers, and the text the client must end with."""
    if target == "anthropic":  # a prefill: the model goes on exactly (scripted below)
        raise AssertionError("anthropic targets are scripted by test_exact_continuation")
    return [Reply(text=WORDS, usage=SECOND)], WORDS  # repeats from the start: trimmed


def wait_for_line(mitm: Mitmdump, text: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in mitm.lines:
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}; last lines:\n" + "\n".join(mitm.lines[-20:]))


def check_usage(got) -> None:
    # both attempts: the first's input (reported or, when cut before its
    # usage, the continuation's) and output (reported or estimated) added
    assert got.input_tokens is not None and got.input_tokens >= 2 * FIRST.input
    assert got.output_tokens is not None and got.output_tokens > SECOND.output


@pytest.mark.parametrize("fault", ["drop", "overloaded"])
@pytest.mark.parametrize("client", [f for f in FORMATS if f != "anthropic"])
def test_continued_on_the_same_target_by_instruction(conn, fake, mitm, client, fault):
    replies, expected = continuation(client)
    fake.script([broken(fault), *replies])
    got = call(conn, client, f"cont-{client}", stream=True)
    assert got.text == expected  # first part + continuation, the repeat trimmed
    assert got.stop == "end"
    check_usage(got)
    first, second = fake.model_calls()
    assert first.format == second.format == client
    assert last_user_text(client, second.body).startswith("Your previous answer was cut off")
    wait_for_line(mitm, f"continued on flaky-{client}/primary after")


@pytest.mark.parametrize("client", [f for f in FORMATS if f != "openai-responses"])
def test_continued_on_another_target_by_instruction(conn, fake, mitm, client):
    """The same target fails before the continuation's content: the next
    target of the combo (another format) continues."""
    target = other(client)
    replies, expected = continuation(target)
    fake.script([broken("drop"), Reply(status=500), *replies])
    got = call(conn, client, f"cont-{client}", stream=True)
    assert got.text == expected
    assert got.stop == "end"
    check_usage(got)
    assert [r.format for r in fake.model_calls()] == [client, client, target]
    wait_for_line(mitm, f"continued on fake-{target}/backup after")


@pytest.mark.parametrize(("client", "combo"), [("anthropic", "cont-anthropic"),
                                               ("openai-responses", "cont-openai-responses")])
def test_exact_continuation_of_a_prefill(conn, fake, mitm, client, combo):
    """An Anthropic target continues the partial answer as a prefill: the
    prefill may not end in whitespace, so it is trimmed and the model's
    opening whitespace is not doubled. (Same target for the Anthropic client;
    the Responses client's backup is Anthropic.)"""
    first = Reply(text_deltas=["la "] * 24, text="la " * 24, usage=FIRST, drop_mid_stream=True)
    rest = Reply(text_deltas=[" fin", "ished."], text=" finished.", usage=SECOND)
    fake.script([first, Reply(status=500), rest] if client != "anthropic" else [first, rest])
    got = call(conn, client, combo, stream=True)
    calls = fake.model_calls()
    prefill = calls[-1].body["messages"][-1]
    assert calls[-1].format == "anthropic" and prefill["role"] == "assistant"
    content = prefill["content"]
    text = content if isinstance(content, str) else "".join(b["text"] for b in content)
    assert text.startswith("la la") and not text.endswith(" ")  # trimmed prefill
    assert got.text == text + " finished."  # the client got text + " " then "finished."
    assert got.stop == "end"
    check_usage(got)
    wait_for_line(mitm, "continued on")
