"""The mitmproxy front, hook by hook (taddons/tflow), with its real engine."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

import httpx
import pytest
from mitmproxy import exceptions, http
from mitmproxy.addons.view import View
from mitmproxy.flow import Error
from mitmproxy.test import taddons, tflow
from omniroute_mitm.engine.core.headers import (
    FRONT_PORT_ENV,
    ORIGINAL_URL_HEADER,
    RECORD_HEADER,
    ROUTE_HEADER,
    SECRET_HEADER,
)
from omniroute_mitm.engine.core.prices import Tokens
from omniroute_mitm.front import addon as front_addon

pytestmark = pytest.mark.anyio

BODY = json.dumps({"model": "claude-sonnet-4", "max_tokens": 10, "messages": []}).encode()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, port: int | None = None) -> Path:
    port = port or closed_port()
    path.write_text(
        "providers:\n"
        f"  down: {{format: anthropic, base_url: 'http://127.0.0.1:{port}/v1', keys: [sk-provider-secret-1]}}\n"  # noqa: E501
        "routes:\n"
        "  - match: {model: 'claude-*'}\n"
        "    to: down/some-model\n"
    )
    return path


def make_flow(
    url: str, method: str = "POST", content: bytes = BODY, h2: bool = False, **headers: str
):
    req = http.Request.make(method, url, content, {"content-type": "application/json", **headers})
    if h2:
        req.http_version = "HTTP/2.0"
        req.authority = req.host
    else:
        req.headers["host"] = req.host
    return tflow.tflow(req=req)


async def stop(addon: front_addon.OmniRoute) -> None:
    addon.done()
    if addon.stopping is not None:
        await addon.stopping


@pytest.fixture
async def front(tmp_path):
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        tctx.options.add_option("connection_strategy", str, "eager", "proxyserver's option")
        tctx.configure(
            addon,
            omniroute_engine_mode="inprocess",
            omniroute_config=str(write_config(tmp_path / "config.yaml")),
        )
        yield addon, tctx
        await stop(addon)


async def test_configure_starts_the_engine_and_sets_lazy_and_allow_hosts(front):
    addon, tctx = front
    assert addon.backend.engine.port is not None
    assert tctx.options.connection_strategy == "lazy"
    (pattern,) = tctx.options.allow_hosts
    import re

    assert re.search(pattern, "api.anthropic.com:443")
    assert re.search(pattern, "chatgpt.com:443")
    assert not re.search(pattern, "github.com:443")
    assert not re.search(pattern, "evil-api.anthropic.com.attacker.net:443")


async def test_user_allow_hosts_is_kept(tmp_path):
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        tctx.options.update(allow_hosts=["example"])
        tctx.configure(addon, omniroute_config=str(write_config(tmp_path / "c.yaml")))
        assert tctx.options.allow_hosts == ["example"]
        await stop(addon)


async def test_invalid_config_at_start_logs_one_error_line_per_problem(tmp_path, caplog):
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  - to: smrt\n")
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, omniroute_config=str(bad))  # no exception: no traceback
        assert addon.backend.engine is None
        flow = make_flow("https://api.anthropic.com/v1/messages")
        addon.request(flow)
        assert flow.request.host == "api.anthropic.com"  # nothing routed meanwhile
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["bad.yaml: routes[0].to: 'smrt' is not a combo, provider/model or native"]


async def test_invalid_config_at_runtime_is_an_options_error(tmp_path, front):
    addon, tctx = front
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  - to: smrt\n  - to: native/x\n")
    with pytest.raises(exceptions.OptionsError) as info:
        tctx.configure(addon, omniroute_config=str(bad))
    assert str(info.value).splitlines() == [
        "bad.yaml: routes[0].to: 'smrt' is not a combo, provider/model or native",
        "bad.yaml: routes[1].to: provider 'native' is not defined",
    ]
    assert addon.backend.engine.config.routes[0].to == "down/some-model"  # the old one stays


@pytest.mark.parametrize("h2", [False, True])
async def test_model_call_is_redirected_to_the_engine(front, h2):
    addon, _ = front
    flow = make_flow(
        "https://api.anthropic.com/v1/messages?beta=true", h2=h2, **{"x-api-key": "sk-client"}
    )
    addon.request(flow)
    req = flow.request
    assert (req.scheme, req.host, req.port) == ("http", "127.0.0.1", addon.backend.engine.port)
    assert req.headers[SECRET_HEADER] == addon.backend.engine.secret
    assert (
        req.headers[ORIGINAL_URL_HEADER] == "https://api.anthropic.com/v1/messages?beta=true"
    )
    assert req.path == "/v1/messages?beta=true"
    if not h2:
        assert req.headers["host"] == f"127.0.0.1:{addon.backend.engine.port}"


async def test_redirected_request_is_served_by_the_engine(front):
    addon, _ = front
    flow = make_flow("https://api.anthropic.com/v1/messages", **{"x-api-key": "sk-client"})
    addon.request(flow)
    async with httpx.AsyncClient(verify=False) as client:
        headers = [(k, v) for k, v in flow.request.headers.items(multi=True) if k.lower() != "host"]
        resp = await client.post(flow.request.url, content=flow.request.content, headers=headers)
    # the provider's port is closed: the engine answered in Anthropic's format
    assert resp.status_code == 502 and resp.json()["type"] == "error"
    assert (
        resp.headers[ROUTE_HEADER] == "claude-sonnet-4 -> all failed (down/some-model: 502)"
    )
    assert "sk-provider-secret-1" not in resp.text


@pytest.mark.parametrize(
    ("method", "url", "headers"),
    [
        ("POST", "https://example.com/v1/messages", {}),
        ("GET", "https://api.anthropic.com/api/claude_code/settings", {}),
        ("GET", "https://api.anthropic.com/v1/models", {"x-api-key": "k"}),
        ("POST", "https://chatgpt.com/backend-api/wham/accounts/check", {}),
        ("POST", "https://api.openai.com/v1/embeddings", {}),
        ("POST", "https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist", {}),
    ],
)
async def test_other_flows_are_untouched(front, method, url, headers):
    addon, _ = front
    flow = make_flow(url, method=method, **headers)
    before = flow.request.get_state()
    addon.request(flow)
    assert flow.request.get_state() == before and flow.response is None
    assert "omniroute" not in flow.metadata


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/v1/responses",
        "https://chatgpt.com/backend-api/codex/responses",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:generateContent",
        "https://api.anthropic.com/v1/messages/count_tokens",
    ],
)
async def test_each_native_model_endpoint_is_classified(front, url):
    addon, _ = front
    flow = make_flow(url)
    addon.request(flow)
    assert flow.request.host == "127.0.0.1" and flow.metadata["omniroute"] == url


async def test_codex_websocket_upgrade_gets_426(front):
    addon, _ = front
    flow = make_flow(
        "https://api.openai.com/v1/responses",
        method="GET",
        content=b"",
        upgrade="websocket",
        connection="Upgrade",
    )
    addon.request(flow)
    assert flow.response.status_code == 426
    assert flow.request.host == "api.openai.com"


async def test_response_is_annotated_copied_and_engine_headers_removed(front):
    addon, tctx = front
    tctx.master.addons.add(View())  # mitmweb's flow list: bodies are shown
    flow = make_flow("https://api.anthropic.com/v1/messages")
    addon.request(flow)
    flow.response = http.Response.make(
        200,
        b"",
        {
            "content-type": "text/event-stream",
            ROUTE_HEADER: "claude-sonnet-4 -> ds/deepseek-chat (fallback from x/y: 429)",
            RECORD_HEADER: "7",
        },
    )
    addon.responseheaders(flow)
    assert flow.comment == (
        "https://api.anthropic.com/v1/messages : claude-sonnet-4 -> ds/deepseek-chat (fallback from x/y: 429)"  # noqa: E501
    )
    assert ROUTE_HEADER not in flow.response.headers
    assert RECORD_HEADER not in flow.response.headers
    assert SECRET_HEADER not in flow.request.headers
    assert ORIGINAL_URL_HEADER not in flow.request.headers
    # mitmdump's log and mitmweb show the endpoint the client called, not the engine
    assert flow.request.pretty_url == "https://api.anthropic.com/v1/messages"
    assert flow.request.headers["host"] == "api.anthropic.com"
    stream = flow.response.stream
    chunks = [b"event: a\ndata: {", b'"x":1}\n\n', b""]
    assert [stream(c) for c in chunks] == chunks  # unchanged, final b"" included
    flow.response.raw_content = None  # as after streaming: content missing
    record = addon.backend.engine.records.new("anthropic", "generate")
    record.attempts, record.failures = ["x/y", "ds/deepseek-chat"], ["x/y: 429"]
    flow.metadata["omniroute_record"] = record.id

    async def request_ends() -> None:  # after the front has asked: the page waits for it
        await asyncio.sleep(0.2)
        record.tokens, record.cost = Tokens(input=12, output=34, cache_read=5), 0.00054
        record.settled.set()

    ending = asyncio.ensure_future(request_ends())
    await addon.response(flow)  # asks the engine over HTTP, as with an external one
    await ending
    assert flow.response.content == b'event: a\ndata: {"x":1}\n\n'
    assert flow.comment.endswith(
        "(fallback from x/y: 429) [12 in + 5 cache read + 0 cache write / 34 out, $0.00054]"
    )
    assert flow.marked == ":twisted_rightwards_arrows:"  # a fallback shows in mitmweb's list


async def test_a_client_that_hangs_up_at_the_end_still_gets_tokens_in_the_comment(front):
    """The client read the last event and closed before the body's end: mitmproxy
    calls ``error``, and the flow still shows the body, tokens and cost."""
    addon, tctx = front
    tctx.master.addons.add(View())
    flow = make_flow("https://api.openai.com/v1/chat/completions")
    addon.request(flow)
    record = addon.backend.engine.records.new("openai-chat", "generate")
    flow.response = http.Response.make(200, b"", {
        "content-type": "text/event-stream", ROUTE_HEADER: "m -> p/m",
        RECORD_HEADER: str(record.id),
    })  # fmt: skip
    addon.responseheaders(flow)
    flow.response.stream(b"data: [DONE]\n\n")
    flow.response.raw_content = None
    record.tokens, record.cost = Tokens(input=3, output=4), 0.0001
    record.settled.set()
    flow.error = Error("Client disconnected.")
    await addon.error(flow)
    assert flow.comment.endswith(" : m -> p/m [3 in / 4 out, $0.0001]")
    assert flow.response.content == b"data: [DONE]\n\n"


def routed_flow(addon: front_addon.OmniRoute, record_id: int) -> http.HTTPFlow:
    flow = make_flow("https://api.openai.com/v1/chat/completions")
    addon.request(flow)
    flow.response = http.Response.make(200, b"", {
        "content-type": "text/event-stream", ROUTE_HEADER: "m -> p/m",
        RECORD_HEADER: str(record_id),
    })  # fmt: skip
    addon.responseheaders(flow)
    return flow


async def test_plain_mitmdump_keeps_no_body_copy_but_still_annotates(front):
    """Nothing shows or saves plain mitmdump's flows: a finished flow is garbage,
    and its body copy would only wait in memory for the cycle collector."""
    addon, _ = front
    record = addon.backend.engine.records.new("openai-chat", "generate")
    record.tokens, record.cost = Tokens(input=3, output=4), 0.0001
    record.settled.set()
    flow = routed_flow(addon, record.id)
    count = flow.response.stream
    assert isinstance(count, front_addon.StreamCount)  # streamed, only counted
    assert count(b"data: 1\n\n") == b"data: 1\n\n" and count(b"") == b""
    flow.response.raw_content = None  # as after streaming
    assert flow.request.raw_content  # the request as the client sent it
    await addon.response(flow)
    assert flow.response.raw_content == b""  # nothing kept
    assert flow.request.raw_content is None  # nor the request (a long one: MBs)
    # mitmdump's line says what happened, not "(content missing)"
    assert flow.response.reason == "OK (streamed 9b, body not kept)"
    assert flow.comment.endswith(" : m -> p/m [3 in / 4 out, $0.0001]")
    assert not addon._copies


@pytest.mark.parametrize("setting", ["view", "save_stream_file", "hardump", "flow_detail", "on"])
async def test_a_body_copy_is_kept_when_something_shows_or_saves_flows(front, setting, tmp_path):
    addon, tctx = front
    if setting == "view":
        tctx.master.addons.add(View())
    elif setting == "flow_detail":
        tctx.options.add_option("flow_detail", int, 1, "dumper's option")
        tctx.options.flow_detail = 3
    elif setting == "on":
        tctx.configure(addon, omniroute_flow_bodies="on")
    else:
        tctx.options.add_option(setting, str, "", "save's option")
        setattr(tctx.options, setting, str(tmp_path / "flows"))
    record = addon.backend.engine.records.new("openai-chat", "generate")
    record.settled.set()
    flow = routed_flow(addon, record.id)
    flow.response.stream(b"data: [DONE]\n\n")
    sent = flow.request.raw_content
    await addon.response(flow)
    assert flow.response.content == b"data: [DONE]\n\n"
    assert sent and flow.request.raw_content == sent


async def test_off_keeps_no_copy_even_under_mitmweb_and_a_bad_choice_names_the_option(front):
    addon, tctx = front
    tctx.master.addons.add(View())
    tctx.configure(addon, omniroute_flow_bodies="off")
    assert isinstance(routed_flow(addon, 1).response.stream, front_addon.StreamCount)
    with pytest.raises(exceptions.OptionsError, match="omniroute_flow_bodies: 'maybe' is not"):
        tctx.configure(addon, omniroute_flow_bodies="maybe")


async def test_capped_copy_keeps_the_first_mebibyte():
    copy = front_addon.CappedCopy(cap=10)
    assert copy(b"0123456") == b"0123456"
    assert copy(b"789abcdef") == b"789abcdef"
    assert copy(b"") == b""
    assert bytes(copy.data) == b"0123456789" and copy.truncated


async def test_flows_not_routed_are_not_streamed(front):
    addon, _ = front
    flow = make_flow("https://example.com/v1/messages")
    addon.request(flow)
    flow.response = http.Response.make(200, b"x")
    addon.responseheaders(flow)
    await addon.response(flow)
    assert flow.response.stream is False and flow.comment == ""


async def test_config_file_change_reloads_and_bad_edit_keeps_the_old(front, tmp_path):
    addon, _ = front
    path = tmp_path / "config.yaml"
    path.write_text("routes:\n  - to: native\n")
    engine_ = addon.backend.engine
    assert engine_.watcher.check() and engine_.config.routes[0].to == "native"
    path.write_text("routes:\n  - to: nowhere-at-all\n")
    assert not engine_.watcher.check() and engine_.config.routes[0].to == "native"


async def test_external_engine_url_and_secret_file(front, tmp_path):
    addon, tctx = front
    secret = tmp_path / "engine.secret"
    secret.write_text("s3cret\n")
    tctx.configure(
        addon, omniroute_engine_url="http://127.0.0.1:9", omniroute_engine_secret_file=str(secret)
    )
    flow = make_flow("https://api.openai.com/v1/chat/completions")
    addon.request(flow)
    assert (flow.request.host, flow.request.port) == ("127.0.0.1", 9)
    assert flow.request.headers[SECRET_HEADER] == "s3cret"
    with pytest.raises(exceptions.OptionsError):
        tctx.configure(addon, omniroute_engine_secret_file=str(tmp_path / "missing"))


async def test_with_an_external_engine_the_front_needs_no_config(tmp_path):
    secret = tmp_path / "engine.secret"
    secret.write_text("s3cret\n")
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            omniroute_config=str(tmp_path / "absent.yaml"),
            omniroute_engine_url="http://127.0.0.1:9",
            omniroute_engine_secret_file=str(secret),
        )
        assert addon.backend.engine is None
        flow = make_flow("https://api.anthropic.com/v1/messages")
        addon.request(flow)
        assert flow.request.port == 9


async def test_direct_mode_needs_the_token_variable(front, monkeypatch):
    addon, tctx = front
    monkeypatch.delenv("OMNIROUTE_DIRECT_TOKEN", raising=False)
    with pytest.raises(exceptions.OptionsError, match="OMNIROUTE_DIRECT_TOKEN"):
        tctx.configure(addon, omniroute_engine_direct=True)
    monkeypatch.setenv("OMNIROUTE_DIRECT_TOKEN", "tok-abc")
    tctx.configure(addon, omniroute_engine_direct=True)
    assert addon.backend.engine.direct_token == "tok-abc"
    async with httpx.AsyncClient(verify=False) as client:
        url = f"{addon.backend.engine.url}/v1/models"
        resp = await client.get(url, headers={"x-api-key": "tok-abc"})
    assert resp.status_code == 200 and resp.json()["data"] == []  # no combos, no allow-lists


async def test_running_logs_the_summary_with_its_own_or_an_external_engine(front, tmp_path,
                                                                           caplog):
    addon, tctx = front
    with caplog.at_level("INFO"):
        addon.running()
        if addon.rebinding is not None:  # the summary follows the loopback rebind
            await addon.rebinding
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "omniroute:\n  config " in text
    assert "route */claude-* -> down/some-model" in text
    assert "client env: eval" in text  # the route names no client: the generic line

    secret = tmp_path / "engine.secret"
    secret.write_text("s3cret\n")
    external = front_addon.OmniRoute()
    caplog.clear()
    with taddons.context(external) as tctx2, caplog.at_level("INFO"):
        tctx2.configure(external, omniroute_config=str(write_config(tmp_path / "ext.yaml")),
                        omniroute_engine_url="http://127.0.0.1:9",
                        omniroute_engine_secret_file=str(secret))
        external.running()
        if external.rebinding is not None:
            await external.rebinding
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "route */claude-* -> down/some-model" in text  # read by the front for the summary


async def test_the_engine_learns_the_front_port_and_forgets_it_when_done(front, monkeypatch):
    """So the engine never takes this proxy for its own upstream proxy (an
    HTTPS_PROXY exported in mitmdump's shell); see tests/engine/test_wire.py."""
    addon, tctx = front
    monkeypatch.delenv(FRONT_PORT_ENV, raising=False)
    tctx.options.add_option("listen_port", int, 8080, "proxyserver's option")
    tctx.options.listen_port = 18123
    addon.running()
    if addon.rebinding is not None:
        await addon.rebinding
    assert os.environ[FRONT_PORT_ENV] == "18123"
    addon.done()
    assert FRONT_PORT_ENV not in os.environ


async def test_switching_the_config_file_at_runtime_logs_its_routes(front, tmp_path, caplog):
    addon, tctx = front
    other = tmp_path / "other.yaml"
    other.write_text("routes:\n  - {match: {client: gemini}, to: native}\n")
    with caplog.at_level("INFO"):
        tctx.configure(addon, omniroute_config=str(other))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"omniroute:\n  config {other}" in text
    assert "route gemini/* -> native" in text
