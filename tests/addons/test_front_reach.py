"""The front and the endpoint catalog: which hosts it decrypts (those the CA
covers), how a catalogued vendor's model call reaches the engine, and what
passes through untouched."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from mitmproxy import contentviews, http
from mitmproxy.test import taddons, tflow, tutils
from omniroute_mitm.engine.core import endpoints
from omniroute_mitm.engine.core.headers import ORIGINAL_URL_HEADER, SECRET_HEADER
from omniroute_mitm.engine.ops import ca
from omniroute_mitm.front import addon as front_addon
from test_omniroute import make_flow, stop, write_config

pytestmark = pytest.mark.anyio


def confdir_with(tmp_path: Path, names: tuple[str, ...]) -> Path:
    confdir = tmp_path / "certs"
    ca.generate(confdir, domains=names)
    return confdir


def config_with_endpoint(path: Path) -> Path:
    write_config(path)
    path.write_text(path.read_text() + (
        "endpoints:\n"
        "  - {host: llm.internal.example, paths: [/v2/chat/completions], format: openai-chat,"
        " key: api-key, vendor: internal}\n"))  # fmt: skip
    return path


@pytest.fixture
async def reach(tmp_path):
    """The front with a CA for every catalogued host and the config's endpoint."""
    config = config_with_endpoint(tmp_path / "config.yaml")
    confdir = confdir_with(tmp_path, endpoints.ca_names(ca.summary.load_quietly(config)))
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        tctx.options.add_option("connection_strategy", str, "eager", "proxyserver's option")
        tctx.configure(addon, confdir=str(confdir), omniroute_engine_mode="inprocess",
                       omniroute_config=str(config))  # fmt: skip
        yield addon, tctx
        await stop(addon)


async def test_every_catalogued_and_configured_host_is_decrypted(reach):
    addon, tctx = reach
    (pattern,) = tctx.options.allow_hosts
    for ep in endpoints.CATALOG:
        assert re.search(pattern, f"{ep.host}:443"), ep.host
    assert re.search(pattern, "llm.internal.example:443")
    assert re.search(pattern, "api.anthropic.com:443")
    assert not re.search(pattern, "github.com:443")
    assert not re.search(pattern, "api.deepseek.com.attacker.net:443")
    assert not re.search(pattern, "xapi.x.ai:443")


@pytest.mark.parametrize("url, path", [
    ("https://api.groq.com/openai/v1/chat/completions?x=1", "/v1/chat/completions?x=1"),
    ("https://api.deepseek.com/chat/completions", "/v1/chat/completions"),
    ("https://api.deepseek.com/anthropic/v1/messages?beta=true", "/v1/messages?beta=true"),
    ("https://api.z.ai/api/anthropic/v1/messages/count_tokens", "/v1/messages/count_tokens"),
    ("https://openrouter.ai/api/v1/responses", "/v1/responses"),
    ("https://api.githubcopilot.com/responses", "/v1/responses"),
    ("https://llm.internal.example/v2/chat/completions", "/v1/chat/completions"),
])  # fmt: skip
async def test_a_vendors_model_call_reaches_the_engine_at_its_standard_path(reach, url, path):
    addon, _ = reach
    flow = make_flow(url, authorization="Bearer sk-client")
    addon.request(flow)
    req = flow.request
    assert (req.host, req.port) == ("127.0.0.1", addon.backend.engine.port)
    assert req.path == path
    assert req.headers[ORIGINAL_URL_HEADER] == url
    assert req.headers[SECRET_HEADER] == addon.backend.engine.secret


@pytest.mark.parametrize("method, url", [
    ("GET", "https://api.deepseek.com/models"),
    ("GET", "https://api.deepseek.com/user/balance"),
    ("GET", "https://api.moonshot.ai/v1/models"),
    ("GET", "https://openrouter.ai/api/v1/key"),
    ("POST", "https://api.mistral.ai/v1/embeddings"),
    ("POST", "https://api.deepseek.com/v1/messages"),  # the Anthropic path is under /anthropic
    ("GET", "https://api.githubcopilot.com/models"),
])  # fmt: skip
async def test_a_vendors_other_calls_pass_through_untouched(reach, method, url):
    addon, _ = reach
    flow = make_flow(url, method=method, content=b"{}" if method == "POST" else b"")
    addon.request(flow)
    assert flow.request.pretty_url == url
    assert SECRET_HEADER not in flow.request.headers
    assert flow.response is None


async def test_hosts_the_ca_cannot_sign_for_stay_tunnelled(tmp_path, caplog):
    config = config_with_endpoint(tmp_path / "config.yaml")
    confdir = confdir_with(tmp_path, endpoints.BASE_DOMAINS)  # the CA of before the catalog
    addon = front_addon.OmniRoute()
    with caplog.at_level(logging.WARNING), taddons.context(addon) as tctx:
        tctx.configure(addon, confdir=str(confdir), omniroute_engine_mode="inprocess",
                       omniroute_config=str(config))  # fmt: skip
        (pattern,) = tctx.options.allow_hosts
        assert re.search(pattern, "api.openai.com:443")
        assert not re.search(pattern, "api.deepseek.com:443")
        assert not re.search(pattern, "llm.internal.example:443")
        flow = make_flow("https://api.deepseek.com/chat/completions")
        addon.request(flow)
        assert flow.request.host == "api.deepseek.com"  # not routed
        await stop(addon)
    (line,) = [r.getMessage() for r in caplog.records if "cannot sign for" in r.getMessage()]
    assert "api.deepseek.com" in line and "llm.internal.example" in line
    assert "api.openai.com" not in line
    assert "scripts/ca.py generate --force" in line


async def test_the_stream_view_knows_the_configured_hosts(reach):
    """mitmweb's model-stream view reads the front's catalog: a stream from a
    host of config.yaml's ``endpoints:`` is decoded in that endpoint's format."""
    bare_chat = (b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hi there"}}]}\n\n'
                 b"data: [DONE]\n\n")  # no chat.completion.chunk marker to sniff
    req = http.Request.make("POST", "https://llm.internal.example/v2/chat/completions", b"{}")
    flow = tflow.tflow(req=req, resp=tutils.tresp(content=bare_chat))
    flow.response.headers["content-type"] = "text/event-stream"
    result = contentviews.prettify_message(flow.response, flow)
    assert result.view_name == "Model stream"
    assert result.text.splitlines()[0] == "2 events (openai-chat)" and "Hi there" in result.text
