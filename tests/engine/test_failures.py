"""The error classifier: each failure's class, and the wait the provider asked for."""

from __future__ import annotations

import json

import pytest
from omniroute_mitm.engine.core.errors import (
    UpstreamConnectError,
    UpstreamStatus,
    UpstreamStreamError,
    UpstreamTimeout,
)
from omniroute_mitm.engine.core.quota import retry_after
from omniroute_mitm.engine.route.failures import classify
from omniroute_mitm.translators import ErrorInfo

NOW = 1_800_000_000.0


def status(code: int, body: object = None, **headers: str) -> UpstreamStatus:
    raw = json.dumps(body).encode() if body is not None else b""
    return UpstreamStatus(code, raw, headers=tuple(headers.items()))


def err(message: str) -> dict:
    return {"error": {"message": message}}


CASES = [
    # error, class, falls back
    (status(429, err("Rate limit reached")), "rate_limited", True),
    (status(529, {"type": "error", "error": {"type": "overloaded_error"}}), "rate_limited", True),
    (status(402, err("insufficient credits")), "rate_limited", True),
    (status(400, {"error": {"status": "RESOURCE_EXHAUSTED"}}), "rate_limited", True),
    (status(403, err("You exceeded your current quota")), "rate_limited", True),
    (status(401, err("invalid x-api-key")), "auth", True),
    (status(403, err("permission denied")), "auth", True),
    (status(404, err("model: claude-nope")), "model", True),
    (status(410, err("gone")), "model", True),
    (status(400, err("The model `gpt-9` does not exist")), "model", True),
    (status(500, err("internal")), "transient", True),
    (status(502, None), "transient", True),
    (status(503, err("unavailable")), "transient", True),
    (status(408, None), "transient", True),
    (UpstreamTimeout("x: timed out"), "transient", True),
    (UpstreamConnectError("x: connection refused"), "transient", True),
    (UpstreamStreamError(ErrorInfo(502, "server", "ended before content")), "transient", True),
    (status(400, err("prompt is too long: 250000 tokens > 200000 maximum")), "context", True),
    (status(400, err("This model's maximum context length is 8192 tokens")), "context", True),
    (status(413, None), "context", True),
    (
        status(400, err("messages.1.content.0: Invalid `signature` in `thinking` block")),
        "signature",
        False,
    ),
    (  # Gemini's words for a thoughtSignature it did not issue
        status(400, {"error": {"code": 400, "message": "Corrupted thought signature.",
                               "status": "INVALID_ARGUMENT"}}),
        "signature",
        False,
    ),
    (status(400, err("Unable to submit request because Thought signature is not valid.")),
     "signature", False),
    (  # OpenAI Responses: a reasoning item's encrypted_content from elsewhere
        status(400, {"error": {
            "message": "The encrypted content gAAA...Rg== could not be verified.",
            "type": "invalid_request_error", "param": None, "code": "invalid_encrypted_content",
        }}),
        "signature",
        False,
    ),
    (status(400, err("signature: field required")), "request", False),
    (UpstreamConnectError("x: Server disconnected", no_response=True), "stale", False),
    (status(400, err("messages: field required")), "request", False),
    (status(422, err("bad enum")), "request", False),
    (UpstreamStreamError(ErrorInfo(400, "invalid_request", "bad tool schema")), "request", False),
]


@pytest.mark.parametrize(("error", "kind", "falls_back"), CASES)
def test_each_failure_gets_its_class(error, kind, falls_back):
    failure = classify(error, now=NOW)
    assert failure.kind == kind
    assert failure.falls_back is falls_back


def test_the_retries_on_the_same_target_fall_back_the_second_time():
    for error in (
        UpstreamConnectError("x: Server disconnected", no_response=True),
        status(400, err("Invalid `signature` in `thinking` block")),
    ):
        first = classify(error)
        assert first.retry_same and not first.falls_back
        assert first.again().falls_back and not first.again().retry_same


def test_only_an_unreachable_provider_is_provider_wide():
    assert classify(UpstreamConnectError("x: refused")).provider_wide
    assert not classify(status(503, None)).provider_wide


@pytest.mark.parametrize(
    ("headers", "body", "seconds"),
    [
        ({"retry-after": "7"}, "", 7.0),
        ({"retry-after-ms": "1500"}, "", 1.5),
        ({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, "", 10.0),  # NOW + 10 s
        ({"retry-after": "Fri, 15 Jan 2027 07:59:00 GMT"}, "", 0.0),  # past: no wait
        ({"x-ratelimit-reset-requests": "6m0s"}, "", 360.0),
        ({"x-ratelimit-reset-tokens": "20ms"}, "", 0.02),
        ({}, '{"error": {"details": [{"retryDelay": "31s"}]}}', 31.0),
        ({}, "Please try again in 20s.", 20.0),
        ({}, "", None),
    ],
)
def test_retry_after_from_headers_and_bodies(headers, body, seconds):
    got = retry_after(headers.items(), body, now=NOW)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def test_a_429_carries_its_retry_after():
    failure = classify(status(429, err("slow down"), **{"retry-after": "12"}), now=NOW)
    assert failure.retry_after == 12.0
    assert classify(status(503, None, **{"retry-after": "12"})).retry_after is None
