"""Reach: the official SDKs pointed at each catalogued vendor's base URL
(DeepSeek, Moonshot, Z.ai, OpenRouter, xAI, Mistral, Groq, DashScope, Copilot)
through a real mitmdump, routed to the fake provider in another format; and a
host added in config.yaml ``endpoints:`` that the CA must first be regenerated
for. Nothing leaves loopback: the proxy resolves no vendor (the offline guard
stops anything that would)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from cryptography import x509
from e2e_harness import (
    CLIENT_KEY,
    ROOT,
    Mitmdump,
    client_ssl_context,
    copy_confdir,
    e2e_config,
    provider_key,
    write_config,
)
from fakeprovider import Reply, Usage
from fakeprovider.sdk import REAL_HOSTS, Conn, call
from omniroute_mitm.engine.core.endpoints import CATALOG, Endpoint

pytestmark = pytest.mark.e2e

SUFFIX = {"openai-chat": "/chat/completions", "openai-responses": "/responses",
          "anthropic": "/v1/messages"}  # fmt: skip
"""What each SDK appends to its base URL."""
ROUTED_TO = {"openai-chat": "anthropic", "openai-responses": "anthropic",
             "anthropic": "openai-chat"}  # fmt: skip
"""The fake provider's format each client format is routed to (never its own)."""
TOOL = Reply(tool_calls=[("get_weather", {"city": "Paris"})], usage=Usage(input=21, output=7))
TEXT = Reply(text="Hello from the routed model.", usage=Usage(input=12, output=6))

CASES = [(ep, path) for ep in CATALOG for path in ep.paths if path.endswith(SUFFIX[ep.format])]
"""Every catalogued path an official SDK calls (the others: raw HTTP below)."""


def case_id(case: tuple[Endpoint, str]) -> str:
    ep, path = case
    return f"{ep.vendor}-{ep.host}{path}"


def sdk_base(ep: Endpoint, path: str) -> str:
    """The base URL a user gives the official SDK for this endpoint."""
    assert path.endswith(SUFFIX[ep.format]), path
    return f"https://{ep.host}{path.removesuffix(SUFFIX[ep.format])}"


def vendor_conn(mitm: Mitmdump, ep: Endpoint, path: str) -> Conn:
    bases = dict(REAL_HOSTS, **{ep.format: sdk_base(ep, path)})
    return Conn(base_urls=bases, proxy=mitm.url, verify=client_ssl_context(mitm.confdir),
                api_key=CLIENT_KEY)


def usage_rows(confdir: Path, vendor: str, since: float, count: int) -> list[dict]:
    """The usage rows of ``vendor`` since ``since``, once there are ``count``."""
    deadline = time.monotonic() + 20
    rows: list[dict] = []
    while time.monotonic() < deadline:
        if (confdir / "data" / "omniroute.sqlite").exists():
            out = subprocess.run(
                [str(ROOT / "scripts/usage"), "--data-dir", str(confdir / "data"), "--json",
                 "--rows"], capture_output=True, text=True, timeout=60, check=True)
            rows = [r for r in json.loads(out.stdout)
                    if r["client_endpoint"] == vendor and r["time"] >= since]
            if len(rows) >= count:
                return rows
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} rows of {vendor} in the store: {rows}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_vendors_sdk_base_url_is_routed_with_tools_and_streams(conn, mitm, fake, case):
    ep, path = case
    target = ROUTED_TO[ep.format]
    fake.script([TOOL, TEXT])
    before, since = len(fake.model_calls()), time.time()
    with vendor_conn(mitm, ep, path) as c:
        streamed = call(c, ep.format, f"to-{target}", stream=True, tools=True)
        unary = call(c, ep.format, f"to-{target}", stream=False)
    assert streamed.tool_calls == [("get_weather", {"city": "Paris"})], streamed
    assert streamed.stop == "tool_use"
    assert unary.text == TEXT.text and unary.stop == "end"
    assert unary.output_tokens == TEXT.usage.output
    calls = fake.model_calls()[before:]
    assert [r.format for r in calls] == [target, target]
    assert calls[0].stream and not calls[1].stream
    assert {t.get("name") or t.get("function", {}).get("name") for t in calls[0].body["tools"]
            } >= {"get_weather"}
    for rec in calls:
        assert rec.api_key == provider_key(target)
        assert not rec.carries(CLIENT_KEY), "the client's vendor key must not reach a provider"
    rows = usage_rows(mitm.confdir, ep.vendor, since, 2)
    assert [(r["client_format"], r["stream"], r["provider"]) for r in rows] == [
        (ep.format, 1, f"fake-{target}"), (ep.format, 0, f"fake-{target}")]
    assert rows[-1]["output_tokens"] == TEXT.usage.output


def test_a_path_no_sdk_calls_is_routed_too(mitm, fake):
    """DeepSeek's /anthropic/messages, which its docs offer raw HTTP clients."""
    fake.script([TEXT])
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir),
                      timeout=20) as http:
        resp = http.post("https://api.deepseek.com/anthropic/messages",
                         headers={"authorization": f"Bearer {CLIENT_KEY}",
                                  "anthropic-version": "2023-06-01"},
                         json={"model": "to-openai-chat", "max_tokens": 50,
                               "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["type"] == "message" and body["content"][0]["text"] == TEXT.text
    (rec,) = fake.model_calls()
    assert rec.format == "openai-chat" and not rec.carries(CLIENT_KEY)


def test_a_vendors_other_calls_pass_through_untouched(mitm, fake):
    """GET /models (and account endpoints) on a catalogued host are no model
    calls: mitmproxy sends them to the vendor as they are (here the offline
    guard stops the connection, which is how we see it was not routed)."""
    before = len(fake.requests)
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir),
                      timeout=20) as http:
        resp = http.get("https://api.deepseek.com/models",
                        headers={"authorization": f"Bearer {CLIENT_KEY}"})
        balance = http.get("https://api.moonshot.ai/v1/users/me/balance")
    assert resp.status_code == 502 and balance.status_code == 502
    assert len(fake.requests) == before
    deadline = time.monotonic() + 5
    while len(mitm.blocked()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    blocked = mitm.blocked()
    assert any("api.deepseek.com" in line for line in blocked), mitm.output()
    assert any("api.moonshot.ai" in line for line in blocked), mitm.output()
    assert len(blocked) == 2, blocked
    # expected here: the module's teardown checks that nothing else tried to leave
    mitm.lines[:] = [line for line in mitm.lines if "OFFLINE-GUARD" not in line]


HOST = "llm.internal.example"


def endpoint_config(port: int) -> dict:
    config = e2e_config(port)
    config["endpoints"] = [{"host": HOST, "paths": ["/v2/chat/completions"],
                            "format": "openai-chat", "key": "api-key", "vendor": "internal"}]
    return config


def doctor_ca_line(config: Path, confdir: Path) -> str:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "omniroute"), "doctor", "--config", str(config),
         "--certs", str(confdir), "--port", "9", "--timeout", "2"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(confdir), "HTTPS_PROXY": "http://127.0.0.1:9",
             "NO_PROXY": "127.0.0.1,localhost"})  # fmt: skip
    lines = [line for line in out.stdout.splitlines() if " CA: " in line]
    assert lines, out.stdout + out.stderr
    return "\n".join(lines)


def test_a_configured_endpoint_needs_a_regenerated_ca_then_is_routed(
        tmp_path, ca_dir, e2e_provider, fake):  # fmt: skip
    confdir = copy_confdir(ca_dir, tmp_path / "confdir")
    config = write_config(tmp_path / "config.yaml", endpoint_config(e2e_provider.port))
    ep = Endpoint("internal", HOST, "openai-chat", ("/v2/chat/completions",), "api-key")

    # Before: the CA cannot sign for the new host: start-up and doctor say so,
    # and the host stays tunnelled (the offline guard stops its connection).
    assert "cannot sign for llm.internal.example" in doctor_ca_line(config, confdir)
    mitm = Mitmdump(config, confdir).start()
    try:
        time.sleep(0.5)
        log = mitm.output()
        assert f"cannot sign for {HOST}" in log and "generate --force" in log, log
        with vendor_conn(mitm, ep, "/v2/chat/completions") as c:
            with pytest.raises(openai.APIConnectionError):
                call(c, "openai-chat", "to-anthropic", stream=False)
        deadline = time.monotonic() + 10  # the guard's line may follow the client's error
        while not any(HOST in line for line in mitm.blocked()):
            assert time.monotonic() < deadline, mitm.output()
            time.sleep(0.05)
        assert not fake.model_calls()
    finally:
        mitm.stop()

    # Regenerate: generate computes the names from the catalog and the config.
    subprocess.run([sys.executable, str(ROOT / "scripts/ca.py"), "--dir", str(confdir),
                    "generate", "--force", "--config", str(config)],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    cert = x509.load_pem_x509_certificate((confdir / "mitmproxy-ca-cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    assert HOST in {str(n.value) for n in names.permitted_subtrees}
    assert "cannot sign" not in doctor_ca_line(config, confdir)

    fake.script([TOOL])
    mitm = Mitmdump(config, confdir).start()
    try:
        assert f"cannot sign for {HOST}" not in mitm.output()
        with vendor_conn(mitm, ep, "/v2/chat/completions") as c:
            result = call(c, "openai-chat", "to-anthropic", stream=True, tools=True)
        assert result.tool_calls == [("get_weather", {"city": "Paris"})]
        rec = fake.model_calls()[-1]
        assert rec.format == "anthropic" and not rec.carries(CLIENT_KEY)
        assert usage_rows(confdir, "internal", 0, 1)[-1]["client_format"] == "openai-chat"
        assert not mitm.blocked(), mitm.output()
    finally:
        mitm.stop()
