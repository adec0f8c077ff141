"""Every client format x every provider format, streaming and not, text and
parallel tool calls: the official SDKs call the engine directly (base URL and
the direct token) and the fake provider answers; the SDK's final result must be
what the provider said."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest
from enginefakes import EngineThread
from fakeprovider import Reply, Usage
from fakeprovider.sdk import FORMATS, Conn, call
from google.genai import errors as genai_errors
from omniroute_mitm.engine.core.config import parse_config

TOKEN = "sk-direct-token-0000"
PROVIDER_KEY = {fmt: f"sk-provider-{fmt}-key" for fmt in FORMATS}
TEXT = Reply(text="Bonjour, the weather is mild.", usage=Usage(input=120, output=45))
TOOLS = Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})])


def engine_config(fake_url: str):
    base = {
        "openai-chat": "/v1",
        "openai-responses": "/v1",
        "anthropic": "/v1",
        "gemini": "/v1beta",
    }
    lines = ["providers:"]
    for fmt in FORMATS:
        url = fake_url + base[fmt]
        lines.append(
            f"  p-{fmt}: {{format: {fmt}, base_url: '{url}', keys: [{PROVIDER_KEY[fmt]}]}}"
        )
    lines.append("combos:")
    lines.append("  twice: {targets: [p-openai-chat/a, p-anthropic/b]}")
    lines.append("routes:")
    lines += [f"  - {{match: {{model: via-{fmt}}}, to: p-{fmt}/up-model}}" for fmt in FORMATS]
    # A break after content ends the stream here (continuations: test_e2e_continue.py).
    lines.append("resilience: {continue: false}")
    return parse_config("\n".join(lines), env={})


def connect(fake_provider_server, ping_interval: float):
    runner = EngineThread(
        engine_config(fake_provider_server.url), direct_token=TOKEN, ping_interval=ping_interval
    )
    url = runner.engine.url
    urls = {
        "openai-chat": url + "/v1",
        "openai-responses": url + "/v1",
        "anthropic": url,
        "gemini": url,
    }
    return runner, Conn(base_urls=urls, api_key=TOKEN)


@pytest.fixture(scope="module")
def engine_conn(fake_provider_server):
    runner, conn = connect(fake_provider_server, 0)
    with conn:
        yield conn
    runner.stop()


@pytest.fixture(scope="module")
def pinging_conn(fake_provider_server):
    runner, conn = connect(fake_provider_server, 0.05)
    with conn:
        yield conn
    runner.stop()


def sdk_error(fmt: str):
    return genai_errors.APIError if fmt == "gemini" else (openai.APIError, anthropic.APIError)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_text(fake_provider, engine_conn, client, provider, stream):
    fake_provider.script([TEXT])
    got = call(engine_conn, client, f"via-{provider}", stream=stream)
    assert (got.text, got.tool_calls, got.stop) == (TEXT.text, [], "end")
    assert (got.input_tokens, got.output_tokens) == (120, 45)
    rec = fake_provider.model_calls()[-1]
    assert (rec.format, rec.stream) == (provider, stream)
    assert rec.api_key == PROVIDER_KEY[provider] and not rec.carries(TOKEN)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_parallel_tool_calls(fake_provider, engine_conn, client, provider, stream):
    fake_provider.script([TOOLS])
    got = call(engine_conn, client, f"via-{provider}", stream=stream, tools=True)
    assert got.tool_calls == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "Europe/Paris"}),
    ]
    assert got.stop == "tool_use"
    sent = fake_provider.model_calls()[-1]
    assert sent.format == provider and sent.body is not None


@pytest.mark.parametrize(
    ("client", "provider"), [(c, p) for c in FORMATS for p in FORMATS if c != p][::3]
)
def test_error_mid_stream_fails_the_sdk_stream(fake_provider, engine_conn, client, provider):
    fake_provider.script(
        [Reply(text="one two three four", error_mid_stream=True, error_message="Overloaded")]
    )
    with pytest.raises(Exception) as info:  # each SDK raises its own class
        call(engine_conn, client, f"via-{provider}", stream=True)
    assert "verloaded" in str(info.value) or "overloaded" in repr(info.value).lower()


@pytest.mark.parametrize("client", FORMATS)
def test_all_fail_is_one_sdk_error_with_the_last_status(fake_provider, engine_conn, client):
    fake_provider.script(
        [Reply(status=500, error_message="first"), Reply(status=503, error_message="second")]
    )
    with pytest.raises(sdk_error(client)) as info:
        call(engine_conn, client, "twice", stream=client != "gemini")
    err = info.value
    assert getattr(err, "status_code", None) == 503 or getattr(err, "code", None) == 503
    assert "second" in str(err) and "all targets failed" in str(err)
    assert len(fake_provider.model_calls()) == 2


@pytest.mark.parametrize("client", FORMATS)
def test_sdks_ignore_keepalive_pings(fake_provider, pinging_conn, client):
    fake_provider.script([Reply(text="late but fine", delay_first_byte=0.3)])
    got = call(pinging_conn, client, "via-openai-chat", stream=True)
    assert got.text == "late but fine"


@pytest.mark.parametrize("provider", FORMATS)
def test_gemini_json_array_stream(fake_provider, engine_conn, provider):
    fake_provider.script([Reply(text="array of chunks")])
    url = engine_conn.base_urls["gemini"] + f"/v1beta/models/via-{provider}:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    resp = httpx.post(url, json=body, headers={"x-goog-api-key": TOKEN}, timeout=10)
    assert resp.status_code == 200
    chunks = json.loads(resp.content)
    text = "".join(
        p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]
    )
    assert text == "array of chunks"
