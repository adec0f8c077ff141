"""engine.core.access: which credential each client format needs, which call
comes from a web page, and the allow-list's origins."""

from __future__ import annotations

import pytest
from omniroute_mitm.engine.core import access


@pytest.mark.parametrize(("fmt", "headers", "query", "ok"), [
    ("anthropic", {"x-api-key": "k"}, "", True),
    ("anthropic", {"authorization": "Bearer k"}, "", True),
    ("anthropic", {"x-goog-api-key": "k"}, "", False),
    ("anthropic", {"x-api-key": "  "}, "", False),
    ("openai-chat", {"authorization": "Bearer k"}, "", True),
    ("openai-chat", {"authorization": "Bearer"}, "", False),
    ("openai-chat", {"x-api-key": "k"}, "", False),
    ("openai-responses", {"authorization": "k"}, "", True),
    ("openai-responses", {}, "key=k", False),
    ("gemini", {"x-goog-api-key": "k"}, "", True),
    ("gemini", {"authorization": "Bearer ya29.x"}, "", True),
    ("gemini", {}, "alt=sse&key=k", True),
    ("gemini", {}, "key=", False),
    ("gemini", {}, "alt=sse", False),
])  # fmt: skip
def test_each_format_wants_its_own_credential(fmt, headers, query, ok):
    assert access.has_credential(fmt, headers, query) is ok


@pytest.mark.parametrize(("headers", "origin"), [
    ({}, None),
    ({"sec-fetch-site": "none"}, None),
    ({"sec-fetch-site": "same-origin"}, None),
    ({"sec-fetch-site": "cross-site"}, ""),
    ({"sec-fetch-site": "Same-Site"}, ""),
    ({"origin": "null"}, "null"),
    ({"origin": "https://evil.example"}, "https://evil.example"),
])  # fmt: skip
def test_a_browser_context_is_an_origin_or_a_cross_site_fetch(headers, origin):
    assert access.browser_origin(headers) == origin


def test_origins_compare_by_scheme_host_and_port():
    allowed = ["https://App.example/", "http://localhost:3000"]
    assert access.origin_allowed("https://app.example", allowed)
    assert access.origin_allowed("https://app.example:443", allowed)
    assert access.origin_allowed("http://localhost:3000", allowed)
    assert not access.origin_allowed("http://app.example", allowed)
    assert not access.origin_allowed("http://localhost:3001", allowed)
    assert not access.origin_allowed("null", allowed)
    assert not access.origin_allowed("", allowed)
    assert not access.origin_allowed("https://app.example.evil.example", allowed)


def test_the_page_check_comes_before_the_credential():
    refused = access.refusal("anthropic", {"origin": "https://evil.example"}, "", [])
    assert refused is not None and refused.status == 403
    refused = access.refusal("anthropic", {"origin": "https://ok.example"}, "",
                             ["https://ok.example"])
    assert refused is not None and refused.status == 401
    assert access.refusal("anthropic", {"origin": "https://ok.example", "x-api-key": "k"}, "",
                          ["https://ok.example"]) is None
