"""No provider key is spent for a caller without a credential, nor for a web
page: through a real mitmdump, a routed call without its client format's
credential gets a 401 in that format, a browser's call from an origin not on
``security.allowed_origins`` a 403, and a CORS preflight no allow header. The
fake provider sees none of the refused requests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
from e2e_harness import Mitmdump, client_ssl_context, e2e_config

pytestmark = pytest.mark.e2e

ALLOWED = "https://app.example"
EVIL = "https://evil.example"

CALLS = {  # client format -> (URL on the real host, a body routed to the fake provider)
    "anthropic": ("https://api.anthropic.com/v1/messages",
                  {"model": "to-anthropic", "max_tokens": 20,
                   "messages": [{"role": "user", "content": "hi"}]}),
    "openai-chat": ("https://api.openai.com/v1/chat/completions",
                    {"model": "to-openai-chat", "messages": [{"role": "user", "content": "hi"}]}),
    "openai-responses": ("https://api.openai.com/v1/responses",
                         {"model": "to-openai-responses", "input": "hi"}),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta/models/to-gemini:generateContent",
               {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
}  # fmt: skip
KEY_HEADER = {"anthropic": "x-api-key", "openai-chat": "authorization",
              "openai-responses": "authorization", "gemini": "x-goog-api-key"}  # fmt: skip


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    config = e2e_config(request.getfixturevalue("e2e_provider").port)
    config["security"] = {"allowed_origins": [ALLOWED]}
    return config


@pytest.fixture(scope="module")
def client(mitm: Mitmdump) -> Iterator[httpx.Client]:
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), timeout=20) as c:
        yield c


def key_headers(fmt: str, value: str = "anything") -> dict[str, str]:
    name = KEY_HEADER[fmt]
    return {name: f"Bearer {value}".strip() if name == "authorization" else value}


def check_error(fmt: str, resp: httpx.Response, status: int) -> str:
    """The vendor's own error shape for ``status``; returns the message."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    if fmt == "anthropic":
        kind = {401: "authentication_error", 403: "permission_error"}[status]
        assert body["type"] == "error" and body["error"]["type"] == kind
        return str(body["error"]["message"])
    if fmt == "gemini":
        state = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}[status]
        assert body["error"]["code"] == status and body["error"]["status"] == state
        return str(body["error"]["message"])
    assert set(body["error"]) >= {"message", "type", "param", "code"}  # OpenAI's error object
    return str(body["error"]["message"])


@pytest.mark.parametrize("fmt", CALLS)
def test_a_call_without_a_credential_gets_a_401_in_its_format(client, fake, fmt):
    url, body = CALLS[fmt]
    resp = client.post(url, json=body)
    assert "omniroute" in check_error(fmt, resp, 401)
    assert not any("access-control" in name.lower() for name in resp.headers)
    assert fake.requests == []  # no provider key spent


@pytest.mark.parametrize("fmt", CALLS)
def test_an_empty_credential_is_none(client, fake, fmt):
    url, body = CALLS[fmt]
    check_error(fmt, client.post(url, json=body, headers=key_headers(fmt, "")), 401)
    assert fake.requests == []


@pytest.mark.parametrize("fmt", CALLS)
def test_any_credential_is_routed_with_the_providers_key(client, fake, fmt):
    url, body = CALLS[fmt]
    resp = client.post(url, json=body, headers=key_headers(fmt, "anything"))
    assert resp.status_code == 200, resp.text
    (seen,) = fake.model_calls()
    assert seen.api_key == f"pk-{fmt}-injected"


@pytest.mark.parametrize(("header", "value"), [("authorization", "Bearer anything"), ("", "")])
def test_gemini_takes_authorization_or_the_key_parameter(client, fake, header, value):
    url, body = CALLS["gemini"]
    if header:
        resp = client.post(url, json=body, headers={header: value})
    else:
        resp = client.post(url + "?key=anything", json=body)
    assert resp.status_code == 200, resp.text
    assert len(fake.model_calls()) == 1


def test_anthropic_takes_authorization(client, fake):
    url, body = CALLS["anthropic"]
    assert client.post(url, json=body, headers={"authorization": "Bearer x"}).status_code == 200


def test_openai_wants_authorization_not_x_api_key(client, fake):
    url, body = CALLS["openai-chat"]
    check_error("openai-chat", client.post(url, json=body, headers={"x-api-key": "k"}), 401)
    assert fake.requests == []


@pytest.mark.parametrize("fmt", CALLS)
def test_a_simple_cross_site_post_gets_a_403(client, fake, fmt):
    """What any web page can make a browser send without a preflight."""
    url, body = CALLS[fmt]
    resp = client.post(url, content=json.dumps(body),
                       headers={"content-type": "text/plain;charset=UTF-8", "origin": EVIL,
                                "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"})
    assert EVIL in check_error(fmt, resp, 403)
    assert not any("access-control" in name.lower() for name in resp.headers)
    assert fake.requests == []


@pytest.mark.parametrize("fmt", CALLS)
def test_a_page_with_a_made_up_key_gets_a_403(client, fake, fmt):
    """Any key works for a routed call, so a key proves nothing about a page."""
    url, body = CALLS[fmt]
    resp = client.post(url, json=body, headers={"origin": EVIL, **key_headers(fmt)})
    check_error(fmt, resp, 403)
    assert fake.requests == []


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_sec_fetch_site_without_origin_gets_a_403(client, fake, site):
    url, body = CALLS["anthropic"]
    resp = client.post(url, json=body, headers={"sec-fetch-site": site, "x-api-key": "k"})
    check_error("anthropic", resp, 403)
    assert fake.requests == []


def test_a_program_of_the_user_is_no_page(client, fake):
    """Sec-Fetch-Site none (typed by the user) or same-origin is no cross-site call."""
    url, body = CALLS["anthropic"]
    for site in ("none", "same-origin"):
        resp = client.post(url, json=body, headers={"sec-fetch-site": site, "x-api-key": "k"})
        assert resp.status_code == 200, resp.text
    assert len(fake.model_calls()) == 2


@pytest.mark.parametrize("fmt", CALLS)
def test_an_allowed_origin_passes_and_may_read_the_answer(client, fake, fmt):
    url, body = CALLS[fmt]
    resp = client.post(url, json=body, headers={"origin": ALLOWED, **key_headers(fmt)})
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == ALLOWED
    assert len(fake.model_calls()) == 1


def test_an_allowed_origin_still_needs_a_credential(client, fake):
    url, body = CALLS["anthropic"]
    check_error("anthropic", client.post(url, json=body, headers={"origin": ALLOWED}), 401)
    assert fake.requests == []


PREFLIGHT = {"access-control-request-method": "POST",
             "access-control-request-headers": "content-type,x-api-key"}  # fmt: skip


@pytest.mark.parametrize("fmt", CALLS)
def test_a_preflight_from_another_site_gets_no_cors_allow_header(client, fake, fmt):
    url, _ = CALLS[fmt]
    resp = client.options(url, headers={"origin": EVIL, **PREFLIGHT})
    assert resp.status_code == 403
    assert not any(name.lower().startswith("access-control-allow") for name in resp.headers)
    check_error(fmt, resp, 403)
    assert fake.requests == []


def test_a_preflight_to_any_ai_path_is_refused(client, fake):
    resp = client.options("https://api.openai.com/v1/files", headers={"origin": EVIL,
                                                                     **PREFLIGHT})
    assert resp.status_code == 403
    assert not any(name.lower().startswith("access-control-allow") for name in resp.headers)


def test_a_preflight_from_an_allowed_origin_is_allowed(client, fake):
    url, _ = CALLS["anthropic"]
    resp = client.options(url, headers={"origin": ALLOWED, **PREFLIGHT})
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == ALLOWED
    assert resp.headers["access-control-allow-headers"] == "content-type,x-api-key"
    assert fake.requests == []


def test_a_new_allowed_origin_applies_without_a_restart(mitm, client, fake):
    url, body = CALLS["anthropic"]
    later = "https://later.example"
    assert client.options(url, headers={"origin": later, **PREFLIGHT}).status_code == 403
    before = mitm.config.read_text()
    config = yaml.safe_load(before)
    config["security"]["allowed_origins"].append(later)
    try:
        mitm.config.write_text(yaml.safe_dump(config, sort_keys=False))
        resp = client.options(url, headers={"origin": later, **PREFLIGHT})
        assert resp.status_code == 204 and resp.headers["access-control-allow-origin"] == later
        deadline = time.monotonic() + 10  # the engine reloads within a second or so
        while True:
            resp = client.post(url, json=body, headers={"origin": later, "x-api-key": "k"})
            if resp.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert resp.status_code == 200, resp.text
    finally:
        mitm.config.write_text(before)
