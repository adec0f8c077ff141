"""The endpoint catalog: classification of the vendors' paths, config.yaml's
``endpoints:``, the CA names it needs, the doctor's CA line, quota headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from omniroute_mitm.engine.core import endpoints, quota
from omniroute_mitm.engine.core.calls import Call, classify, engine_path, is_ai_host
from omniroute_mitm.engine.core.config import ConfigError, parse_config
from omniroute_mitm.engine.core.endpoints import CATALOG, Catalog, catalog
from omniroute_mitm.engine.ops import ca
from omniroute_mitm.engine.ops.doctor import Context, run
from omniroute_mitm.engine.ops.doctor.ca_checks import check_ca

ENDPOINT = """
endpoints:
  - host: LLM.Internal.Example
    paths: [/v2/chat/completions, /v2/chat/completions/]
    format: openai-chat
    key: api-key
    vendor: internal
routes:
  - match: {host: gw.corp.example}
    to: native
  - match: {host: '*.glob.example'}
    to: native
"""


@pytest.mark.parametrize("host, path, fmt, kind", [
    ("api.deepseek.com", "/chat/completions", "openai-chat", "generate"),
    ("api.deepseek.com", "/v1/chat/completions/", "openai-chat", "generate"),
    ("api.deepseek.com", "/anthropic/v1/messages", "anthropic", "generate"),
    ("api.deepseek.com", "/anthropic/v1/messages/count_tokens", "anthropic", "count_tokens"),
    ("api.deepseek.com", "/anthropic/messages", "anthropic", "generate"),
    ("API.Moonshot.ai", "/anthropic/v1/messages?beta=true", "anthropic", "generate"),
    ("api.moonshot.ai", "/v1/responses", "openai-responses", "generate"),
    ("api.z.ai", "/api/paas/v4/chat/completions", "openai-chat", "generate"),
    ("api.z.ai", "/api/coding/paas/v4/chat/completions", "openai-chat", "generate"),
    ("api.z.ai", "/api/anthropic/v1/messages", "anthropic", "generate"),
    ("openrouter.ai", "/api/v1/chat/completions", "openai-chat", "generate"),
    ("openrouter.ai", "/api/v1/messages", "anthropic", "generate"),
    ("api.x.ai", "/v1/responses", "openai-responses", "generate"),
    ("api.x.ai", "/v1/messages", "anthropic", "generate"),
    ("api.mistral.ai", "/v1/chat/completions", "openai-chat", "generate"),
    ("api.groq.com", "/openai/v1/chat/completions", "openai-chat", "generate"),
    ("dashscope-intl.aliyuncs.com", "/compatible-mode/v1/chat/completions", "openai-chat",
     "generate"),
    ("dashscope.aliyuncs.com", "/compatible-mode/v1/chat/completions", "openai-chat",
     "generate"),
    ("api.githubcopilot.com", "/chat/completions", "openai-chat", "generate"),
    ("api.githubcopilot.com", "/responses", "openai-responses", "generate"),
    ("api.githubcopilot.com", "/v1/messages", "anthropic", "generate"),
])  # fmt: skip
def test_catalogued_model_calls(host, path, fmt, kind):
    assert classify("POST", path, host) == Call(fmt, kind)


@pytest.mark.parametrize("method, host, path", [
    ("GET", "api.deepseek.com", "/models"),
    ("GET", "api.deepseek.com", "/user/balance"),
    ("GET", "api.deepseek.com", "/chat/completions"),
    ("POST", "api.deepseek.com", "/v1/messages"),
    ("POST", "api.mistral.ai", "/v1/embeddings"),
    ("POST", "api.mistral.ai", "/v1/fim/completions"),
    ("GET", "openrouter.ai", "/api/v1/models"),
    ("POST", "api.groq.com", "/v1/chat/completions"),
    ("GET", "api.x.ai", "/v1/responses/resp_1"),
    ("POST", "api.groq.com.evil.example", "/openai/v1/chat/completions"),
    ("POST", "llm.internal.example", "/v2/chat/completions"),  # only with the config
])  # fmt: skip
def test_everything_else_on_a_catalogued_host_is_no_model_call(method, host, path):
    assert classify(method, path, host) is None


def test_the_builtin_hosts_are_unchanged():
    assert classify("POST", "/chat/completions", "api.openai.com") is None
    assert classify("POST", "/v1/chat/completions", "api.openai.com") == Call(
        "openai-chat", "generate")
    assert is_ai_host("chatgpt.com") and is_ai_host("api.x.ai") and not is_ai_host("x.ai")


def test_engine_path_rewrites_a_vendor_path_and_keeps_the_query():
    call = classify("POST", "/openai/v1/responses?a=1", "api.groq.com")
    assert call is not None and engine_path(call, "/openai/v1/responses?a=1") == "/v1/responses?a=1"
    count = classify("POST", "/api/anthropic/v1/messages/count_tokens", "api.z.ai")
    assert count is not None
    assert engine_path(count, "/api/anthropic/v1/messages/count_tokens") == (
        "/v1/messages/count_tokens")


def test_every_entry_cites_its_docs_and_speaks_a_client_format():
    for ep in CATALOG:
        assert ep.docs.startswith("https://"), ep
        assert ep.format in endpoints.CLIENT_FORMATS and ep.key in endpoints.KEY_STYLES
        assert all(p.startswith("/") and not p.endswith("/") for p in ep.paths)
        assert ep.host not in endpoints.BUILTIN_VENDORS


def test_config_endpoints_and_route_hosts_join_the_catalog():
    config = parse_config(ENDPOINT, env={})
    (entry,) = config.endpoints
    assert entry.host == "llm.internal.example" and entry.paths == ["/v2/chat/completions"] * 2
    cat = catalog(config)
    assert catalog(config) is cat  # cached per config
    assert classify("POST", "/v2/chat/completions", "llm.internal.example", None, cat) == Call(
        "openai-chat", "generate")
    assert classify("GET", "/v2/models", "llm.internal.example", None, cat) is None
    assert cat.vendor("llm.internal.example") == "internal"
    assert cat.key_style("llm.internal.example") == "api-key"
    # a literal route host speaks the standard paths; a glob names no host
    assert classify("POST", "/v1/messages", "gw.corp.example", None, cat) == Call(
        "anthropic", "generate")
    assert classify("POST", "/other", "gw.corp.example", None, cat) is None
    assert not cat.knows("a.glob.example")
    assert cat.vendor("api.groq.com") == "groq" and cat.vendor("chatgpt.com") == "chatgpt"


@pytest.mark.parametrize("text, line", [
    ("endpoints:\n  - {host: 'https://x.example/v1', paths: [/a], format: openai-chat}\n",
     "config.yaml: endpoints[0].host: expected a host name such as llm.example.com (no scheme, "
     "port or path), got 'https://x.example/v1'"),
    ("endpoints:\n  - {host: x.example, paths: [v1/chat], format: openai-chat}\n",
     "config.yaml: endpoints[0].paths: each path starts with / and has no query, got 'v1/chat'"),
    ("endpoints:\n  - {host: x.example, paths: [], format: openai-chat}\n",
     "config.yaml: endpoints[0].paths: must not be empty"),
    ("endpoints:\n  - {host: x.example, paths: [/a], format: gemini}\n",
     "config.yaml: endpoints[0].format: Input should be 'openai-chat', 'openai-responses' or "
     "'anthropic', got 'gemini'"),
    ("endpoints:\n  - {host: x.example, paths: [/a], format: anthropic, key: header}\n",
     "config.yaml: endpoints[0].key: Input should be 'bearer', 'x-api-key', 'api-key' or "
     "'x-goog-api-key', got 'header'"),
    ("endpoints:\n  - {host: x.example, path: [/a], format: anthropic}\n",
     "config.yaml: endpoints[0].paths: required key is missing"),
])  # fmt: skip
def test_endpoint_config_errors_are_one_line_naming_the_key(text, line):
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert line in info.value.lines, info.value.lines
    assert all("\n" not in each for each in info.value.lines)


def test_endpoint_typo_names_the_nearest_key():
    with pytest.raises(ConfigError) as info:
        parse_config("endpoints:\n  - {host: x.example, paths: [/a], format: anthropic,"
                     " vendr: x}\n", env={})  # fmt: skip
    assert "config.yaml: endpoints[0]: unknown key 'vendr' (did you mean 'vendor'?)" in (
        info.value.lines)


def test_ca_names_follow_the_catalog_and_the_config():
    base = endpoints.ca_names()
    assert base[:5] == endpoints.BASE_DOMAINS and ca.DOMAINS == base
    for ep in CATALOG:
        assert endpoints.covers(base, ep.host)
    assert not endpoints.covers(base, "deepseek.com") and not endpoints.covers(base, "x.ai")
    config = parse_config(ENDPOINT, env={})
    names = endpoints.ca_names(config)
    assert names[: len(base)] == base
    assert names[len(base):] == ("llm.internal.example", "gw.corp.example")
    assert endpoints.uncovered(base, config) == ["llm.internal.example", "gw.corp.example"]
    assert endpoints.uncovered(endpoints.BASE_DOMAINS) == [
        h for h in dict.fromkeys(ep.host for ep in CATALOG)]


def test_generate_computes_the_names_and_says_when_an_old_ca_lacks_them(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(ENDPOINT)
    old = tmp_path / "old"
    ca.generate(old, domains=endpoints.BASE_DOMAINS)
    assert ca.main(["--dir", str(old), "generate", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "does not permit api.deepseek.com" in err and "llm.internal.example" in err
    assert "generate --force" in err
    assert ca.main(["--dir", str(old), "generate", "--force", "--config", str(config)]) == 0
    cert = ca.load_cert(old)
    assert cert is not None and ca.permitted_domains(cert) == endpoints.ca_names(
        parse_config(ENDPOINT, env={}))


def doctor_ca(tmp_path: Path, names: tuple[str, ...]) -> list[str]:
    confdir = tmp_path / f"certs{len(names)}"
    ca.generate(confdir, domains=names)
    context = Context(confdir=confdir, config_path=tmp_path / "config.yaml",
                      config=parse_config(ENDPOINT, env={}))  # fmt: skip
    out: list[str] = []
    run(context, [check_ca], out.append)
    return [line for line in out if " CA: " in line]


def test_doctor_names_the_hosts_the_ca_cannot_sign_for_and_the_fix(tmp_path):
    lines = doctor_ca(tmp_path, endpoints.BASE_DOMAINS)
    (line,) = [line for line in lines if "cannot sign" in line]
    assert line.startswith("warning CA: cannot sign for api.deepseek.com, ")
    assert "llm.internal.example, gw.corp.example" in line
    assert "scripts/ca.py generate --force --config " in line
    config = parse_config(ENDPOINT, env={})
    assert not [line for line in doctor_ca(tmp_path, endpoints.ca_names(config))
                if "cannot sign" in line]


def test_quota_headers_of_the_catalogued_vendors():
    mistral = quota.parse([("x-ratelimitbysize-limit-minute", "500000"),
                           ("x-ratelimitbysize-remaining-minute", "50000"),
                           ("x-ratelimitbysize-limit-month", "1000000000"),
                           ("x-ratelimitbysize-remaining-month", "999000000")], 1000.0)
    assert mistral is not None and mistral.window == "tokens-minute"
    assert mistral.utilization == pytest.approx(0.9)
    openrouter = quota.parse([("X-RateLimit-Limit", "20"), ("X-RateLimit-Remaining", "15"),
                              ("X-RateLimit-Reset", "1765100000000")], 1000.0)
    assert openrouter is not None and openrouter.reset == 1765100000.0
    assert openrouter.utilization == pytest.approx(0.25)
    seconds = quota.parse([("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "0"),
                           ("x-ratelimit-reset", "30")], 1000.0)
    assert seconds is not None and seconds.reset == 1030.0 and seconds.utilization == 1.0
    groq = quota.parse([("x-ratelimit-limit-tokens", "6000"),
                        ("x-ratelimit-remaining-tokens", "1500"),
                        ("x-ratelimit-reset-tokens", "7.66s")], 1000.0)
    assert groq is not None and groq.window == "tokens" and groq.reset == pytest.approx(1007.66)


def test_a_catalog_without_entries_knows_only_the_builtin_hosts():
    empty = Catalog(())
    assert empty.hosts() == tuple(endpoints.BUILTIN_VENDORS)
    assert classify("POST", "/chat/completions", "api.deepseek.com", None, empty) is None


# ------------------------------------------------------------------ native


def chat_completion(text: str) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}


@pytest.mark.anyio
@pytest.mark.parametrize("url, vendor, key_header, quota_headers, window", [
    ("https://api.mistral.ai/v1/chat/completions", "mistral", "authorization",
     {"x-ratelimitbysize-limit-minute": "500000",
      "x-ratelimitbysize-remaining-minute": "125000"}, "tokens-minute"),
    ("https://api.groq.com/openai/v1/chat/completions", "groq", "authorization",
     {"x-ratelimit-limit-requests": "1000", "x-ratelimit-remaining-requests": "400",
      "x-ratelimit-reset-requests": "2m59.56s"}, "requests"),
    ("https://api.deepseek.com/anthropic/v1/messages", "deepseek", "x-api-key", {}, None),
])  # fmt: skip
async def test_native_is_the_vendor_with_the_clients_key_and_its_quota_headers(
        start_engine, tmp_path, url, vendor, key_header, quota_headers, window):  # fmt: skip
    """``native`` for a catalogued vendor: the vendor's own URL with the
    client's key untouched; usage names the vendor and reads its quota headers."""
    import hashlib
    import json

    import httpx
    from omniroute_mitm.engine.core.database import open_store
    from omniroute_mitm.engine.core.headers import ORIGINAL_URL_HEADER

    seen: list[httpx.Request] = []
    anthropic = "/anthropic/" in url

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = ({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                 "content": [{"type": "text", "text": "own"}], "stop_reason": "end_turn",
                 "usage": {"input_tokens": 11, "output_tokens": 3}}
                if anthropic else chat_completion("own"))  # fmt: skip
        data = json.dumps(body).encode()  # a stream, as a network answer is
        return httpx.Response(200, stream=httpx.ByteStream(data),
                              headers={"content-type": "application/json", **quota_headers})

    store = open_store("sqlite:///u.sqlite", base=tmp_path)
    harness = start_engine(parse_config("routes: []", env={}), store=store,
                           transport=httpx.MockTransport(answer))  # fmt: skip
    key = "sk-the-clients-own-vendor-key"
    headers = {ORIGINAL_URL_HEADER: url}
    headers[key_header] = f"Bearer {key}" if key_header == "authorization" else key
    body = ({"model": "deepseek-chat", "max_tokens": 10,
             "messages": [{"role": "user", "content": "hi"}]} if anthropic else
            {"model": "some-model", "messages": [{"role": "user", "content": "hi"}]})
    path = "/v1/messages" if anthropic else "/v1/chat/completions"  # the front's rewrite
    resp = await harness.post(path, body, headers=headers)
    assert resp.status_code == 200, resp.text
    (request,) = seen
    assert str(request.url) == url
    assert request.headers[key_header] == headers[key_header]
    assert json.loads(request.content) == body
    store.flush()
    (row,) = [dict(r) for r in store.read("SELECT * FROM requests")]
    assert row["client_endpoint"] == vendor and row["native"] == 1
    assert row["provider"] == f"native/{vendor}"
    assert row["key_id"] == hashlib.sha256(headers[key_header].encode()).hexdigest()[:10]
    assert (row["input_tokens"], row["output_tokens"]) == (11, 3)
    assert row["quota_window"] == window
    if window is not None:
        assert row["quota_used"] == pytest.approx(0.75 if vendor == "mistral" else 0.6)
    store.close()


def _provider(fmt: str, base_url: str, how: str | None = None):
    extra = f", continue: {how}" if how else ""
    text = f"providers:\n  p: {{format: {fmt}, base_url: '{base_url}'{extra}}}\n"
    return parse_config(text, env={}).providers["p"]


def test_which_targets_continue_exactly_and_where_a_prefix_goes():
    from omniroute_mitm.engine.execute.upstream import provider_url

    deepseek = _provider("openai-chat", "https://api.deepseek.com")
    assert endpoints.continuation(deepseek) == "prefix"
    # DeepSeek takes a prefix on its beta base URL only; other requests stay on the stable one
    assert provider_url(deepseek, "deepseek-chat", True, prefix=True) == (
        "https://api.deepseek.com/beta/chat/completions")  # fmt: skip
    assert provider_url(deepseek, "deepseek-chat", True) == (
        "https://api.deepseek.com/chat/completions")  # fmt: skip
    v1 = _provider("openai-chat", "https://api.deepseek.com/v1")
    assert provider_url(v1, "m", True, prefix=True) == "https://api.deepseek.com/beta/chat/completions"
    mistral = _provider("openai-chat", "https://api.mistral.ai/v1")
    assert endpoints.continuation(mistral) == "prefix"
    assert provider_url(mistral, "m", True, prefix=True) == "https://api.mistral.ai/v1/chat/completions"
    own = _provider("openai-chat", "http://10.1.2.3:8000/v1", "prefix")
    assert endpoints.continuation(own) == "prefix"
    assert provider_url(own, "m", True, prefix=True) == "http://10.1.2.3:8000/v1/chat/completions"
    assert endpoints.continuation(_provider("openai-chat", "https://api.openai.com/v1")) == (
        "instruction")  # fmt: skip
    off = _provider("openai-chat", "https://api.deepseek.com", "instruction")
    assert endpoints.continuation(off) == "instruction"
    assert endpoints.continuation(_provider("anthropic", "https://api.anthropic.com/v1")) == (
        "prefill")  # fmt: skip
    # DeepSeek's Anthropic-compatible API takes an ordinary prefill
    assert endpoints.continuation(_provider("anthropic", "https://api.deepseek.com/anthropic")) == (
        "prefill")  # fmt: skip
    for fmt, url in (("openai-responses", "https://api.openai.com/v1"),
                     ("gemini", "https://generativelanguage.googleapis.com/v1beta")):  # fmt: skip
        assert endpoints.continuation(_provider(fmt, url)) == "instruction"
