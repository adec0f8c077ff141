"""Fault injection: every way a provider misbehaves, through mitmdump, with the
official SDK of each of the four formats as the client.

Each client's combo is ``[flaky-<client>/primary, fake-<other>/backup]``: the
first leg passes the bytes through (same format, so the preamble hold-back is
what saves a 200 that fails), the backup is translated. Before any content a
fault falls back to the backup; after content it reaches the client as its
own format's error, and nothing waits past the provider's 1 s timeout.
"""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest
from e2e_harness import FORMATS, Mitmdump, client_ssl_context, flaky_config, other
from fakeprovider import Reply
from fakeprovider.sdk import Result, call, user_turn
from google.genai import errors as genai_errors

pytestmark = pytest.mark.e2e

SDK_ERRORS = (openai.APIError, anthropic.APIError, genai_errors.APIError)
TIMEOUT = 1  # the flaky providers' timeout (seconds)
BACKUP = "from the backup"


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    port = request.getfixturevalue("e2e_provider").port
    refused = {f"refused-{fmt}": {"targets": ["dead/x", f"fake-{other(fmt)}/backup"]}
               for fmt in FORMATS}
    # after content a fault ends the client's stream here: the continuation
    # of a broken stream has its own tests (test_e2e_continue.py)
    return flaky_config(port, "faults", TIMEOUT, refused, **{"continue": False})


# fault -> what the flaky primary does (one reply per try of it)
BEFORE_CONTENT: dict[str, list[Reply]] = {
    "429 with Retry-After": [Reply(status=429, headers={"retry-after": "0"})],
    "500": [Reply(status=500)],
    "502": [Reply(status=502)],
    "503": [Reply(status=503)],
    "529 overloaded": [Reply(status=529)],
    "reset before headers": [Reply(fault="reset"), Reply(fault="reset")],
    "stall before headers": [Reply(text="late", delay_first_byte=TIMEOUT + 4)],
    "malformed SSE": [Reply(text="never seen", fault="malformed_sse")],
    "invalid JSON in an event": [Reply(text="never seen", fault="bad_json")],
    "error event before content": [Reply(text="never seen", fault="error_before_content")],
    "empty 200": [Reply(fault="empty")],
    "200 preamble then disconnect": [Reply(text="never seen", fault="drop_after_preamble")],
}
AFTER_CONTENT: dict[str, Reply] = {
    "stall mid-stream": Reply(text="one two three four five six", fault="stall_mid_stream"),
    "disconnect mid-stream": Reply(text="one two three four five six", drop_mid_stream=True),
    "error event after content": Reply(text="one two three four five six", error_mid_stream=True),
}


def formats(fake) -> list[str]:
    return [r.format for r in fake.model_calls()]


@pytest.mark.parametrize("fault", list(BEFORE_CONTENT))
@pytest.mark.parametrize("client", FORMATS)
def test_a_fault_before_content_falls_back(conn, fake, client, fault):
    replies = BEFORE_CONTENT[fault]
    fake.script([*replies, Reply(text=BACKUP)])
    start = time.monotonic()
    got = call(conn, client, f"faults-{client}", stream=True)
    assert got.text == BACKUP
    assert time.monotonic() - start < TIMEOUT + 3  # the stall is cut at the timeout
    assert formats(fake) == [client] * len(replies) + [other(client)]


@pytest.mark.parametrize("client", FORMATS)
def test_connection_refused_falls_back(conn, fake, client):
    fake.script([Reply(text=BACKUP)])
    assert call(conn, client, f"refused-{client}", stream=True).text == BACKUP
    assert formats(fake) == [other(client)]


@pytest.mark.parametrize("fault", list(AFTER_CONTENT))
@pytest.mark.parametrize("client", FORMATS)
def test_a_fault_after_content_is_an_error_in_the_clients_format(conn, fake, client, fault):
    fake.script([AFTER_CONTENT[fault], Reply(text="must not be used")])
    start = time.monotonic()
    with pytest.raises(SDK_ERRORS):
        call(conn, client, f"faults-{client}", stream=True)
    assert time.monotonic() - start < TIMEOUT + 3
    assert formats(fake) == [client]  # no second answer spliced into the first


@pytest.mark.parametrize("client", FORMATS)
def test_a_stale_keep_alive_connection_is_retried_on_the_same_target(conn, fake, client):
    fake.script([Reply(text="warm"), Reply(drop_connection=True), Reply(text="fresh")])
    assert call(conn, client, f"faults-{client}", stream=True).text == "warm"
    assert call(conn, client, f"faults-{client}", stream=True).text == "fresh"
    assert formats(fake) == [client] * 3  # no fallback, the same target answered


@pytest.mark.parametrize("client", FORMATS)
def test_the_request_s_own_fault_reaches_the_client_without_fallback(conn, fake, client):
    fake.script([Reply(status=400, error_message="bad field"), Reply(text="must not be used")])
    with pytest.raises(SDK_ERRORS) as info:
        call(conn, client, f"faults-{client}", stream=True)
    assert "bad field" in str(info.value)
    assert formats(fake) == [client]


REFUSED_SIGNATURE = {  # each provider's words for a signature it will not take
    "anthropic": "messages.1.content.0: Invalid `signature` in `thinking` block",
    "gemini": "Corrupted thought signature.",
    "openai-responses": "The encrypted content gAAAsig could not be verified.",
}


def replayed(client: str, answer: Result) -> list[dict]:
    """The model's turn as the client sends it back (thinking and signature included)."""
    if client == "anthropic":
        return [{"role": "assistant", "content": answer.turn}]
    if client == "gemini":
        return [{"role": "model", "parts": answer.turn}]
    return answer.turn


@pytest.mark.parametrize("client", list(REFUSED_SIGNATURE))
def test_a_refused_thinking_signature_is_retried_once_without_the_thinking(conn, fake, client):
    """The provider no longer takes the signature it issued a turn ago (a key
    rotation, a model update): the same target is asked again with the
    thinking removed, and the client never sees the refusal."""
    fake.script([Reply(text="first answer", reasoning="let me think", signature="sig-turn-1")])
    first = call(conn, client, f"faults-{client}", stream=True)
    assert first.text == "first answer"
    history = [*user_turn(client, "question one"), *replayed(client, first),
               *user_turn(client, "question two")]  # fmt: skip
    fake.script([Reply(status=400, error_message=REFUSED_SIGNATURE[client]),
                 Reply(text="second answer")])  # fmt: skip
    assert call(conn, client, f"faults-{client}", stream=True, history=history).text == (
        "second answer")
    turn_one, refused, retried = fake.model_calls()
    assert formats(fake) == [client] * 3  # the same target all along: no fallback
    assert "sig-turn-1" in refused.raw.decode()  # its own signature went back to it
    assert "sig-turn-1" not in retried.raw.decode()
    assert "let me think" not in retried.raw.decode() and "question two" in retried.raw.decode()


def status(mitm: Mitmdump) -> dict:
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir)) as http:
        resp = http.get("http://omniroute/status")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    return resp.json()


def test_zz_nothing_is_left_in_flight_after_the_suite(mitm, e2e_provider):
    """Runs after the others (in its worker): no request still open at the
    provider, no attempt counted in flight, no request or upstream response
    left open in the engine."""
    open_requests = lambda: [  # noqa: E731
        r.path for r in e2e_provider.requests if not (r.completed or r.dropped or r.closed_early)
    ]
    assert e2e_provider.wait_for(lambda: not open_requests(), timeout=5), open_requests()
    deadline = time.monotonic() + 5
    while True:
        page = status(mitm)
        keys = [k for c in page["combos"].values() for t in c["targets"] for k in t.get("keys", [])]
        busy = [k for k in keys if k["in_flight"]]
        idle = (page["engine"]["in_flight"], page["engine"]["upstream_in_flight"]) == (0, 0)
        if (not busy and idle) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not busy, busy
    assert (page["engine"]["in_flight"], page["engine"]["upstream_in_flight"]) == (0, 0)
    # the totals since start count what the in-flight numbers no longer show
    assert page["engine"]["requests_since_start"] >= 1
    assert page["engine"]["upstream_requests_since_start"] >= 1
    assert "pk-" not in str(page)
