"""Every client format x every provider format, streaming and not, text and
parallel tool calls: the official SDKs call the engine directly (base URL and
the direct token) and the fake provider answers; the SDK's final result must be
what the provider said."""

from __future__ import annotations

import pytest
from enginefakes import EngineThread

from engine import parse_config
from fakeprovider import Reply, Usage
from fakeprovider.sdk import FORMATS, Conn, call

TOKEN = "sk-direct-token-0000"
PROVIDER_KEY = {fmt: f"sk-provider-{fmt}-key" for fmt in FORMATS}
TEXT = Reply(text="Bonjour, the weather is mild.", usage=Usage(input=120, output=45))
TOOLS = Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})])


@pytest.fixture(scope="module")
def engine_conn(fake_provider_server):
    base = {"openai-chat": "/v1", "openai-responses": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}
    lines = ["providers:"]
    for fmt in FORMATS:
        url = fake_provider_server.url + base[fmt]
        lines.append(f"  p-{fmt}: {{format: {fmt}, base_url: '{url}', keys: [{PROVIDER_KEY[fmt]}]}}")
    lines.append("routes:")
    lines += [f"  - {{match: {{model: via-{fmt}}}, to: p-{fmt}/up-model}}" for fmt in FORMATS]
    runner = EngineThread(parse_config("\n".join(lines), env={}), direct_token=TOKEN, ping_interval=0)
    url = runner.engine.url
    urls = {"openai-chat": url + "/v1", "openai-responses": url + "/v1", "anthropic": url, "gemini": url}
    with Conn(base_urls=urls, api_key=TOKEN) as conn:
        yield conn
    runner.stop()


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
    assert got.tool_calls == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})]
    assert got.stop == "tool_use"
    sent = fake_provider.model_calls()[-1]
    assert sent.format == provider and sent.body is not None
