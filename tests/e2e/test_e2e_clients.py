"""Requests shaped like the real CLIs' (shared/CLIENTS.md), sent raw through the
proxy: Claude Code's betas and role:"system" message, Codex's Responses body over
HTTP/2 and its zstd-compressed ChatGPT-mode body, Gemini CLI's SSE and JSON-array
streams. The provider must get a clean request in its own format; the client a
well-formed stream in its own."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
import zstandard
from e2e_harness import CLIENT_KEY, client_ssl_context, provider_key
from fakeprovider import Reply, Usage
from fakeprovider.upstream import last_user_text, text_of

pytestmark = pytest.mark.e2e

ANSWER = Reply(text="Hi from the routed model.", usage=Usage(input=30, output=6))

CHAT_PARAMS = {  # what an OpenAI-compatible upstream accepts; anything else may be a 400
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "tools", "tool_choice", "parallel_tool_calls", "stop", "n", "user",
    "reasoning_effort", "response_format", "seed", "presence_penalty", "frequency_penalty",
    "logprobs", "top_logprobs", "metadata", "store", "service_tier", "prediction",
    "modalities", "audio", "logit_bias", "web_search_options", "verbosity",
    "prompt_cache_key", "safety_identifier",
}


class _H2First(ssl.SSLContext):
    """httpcore offers ALPN ["http/1.1", "h2"] in a proxy tunnel and mitmproxy honours
    the client's order; Codex (HTTP/2) puts h2 first, so do we."""

    def set_alpn_protocols(self, protocols) -> None:
        super().set_alpn_protocols(["h2", "http/1.1"] if "h2" in protocols else protocols)


def h2_first_context(cafile: Path) -> ssl.SSLContext:
    ctx = _H2First(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    return ctx


@pytest.fixture(scope="module")
def http(mitm):
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), timeout=20) as c:
        yield c


@pytest.fixture(scope="module")
def http2(mitm):
    ctx = h2_first_context(mitm.confdir / "mitmproxy-ca-cert.pem")
    with httpx.Client(proxy=mitm.url, verify=ctx, timeout=20, http2=True) as client:
        yield client


def sse_events(text: str) -> list[tuple[str | None, dict]]:
    """(event name, data) pairs of an SSE body, CRLF or LF framed."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data and data != ["[DONE]"]:
            out.append((event, json.loads("\n".join(data))))
    return out


def test_claude_code_shaped_request_to_a_chat_provider(http, fake):
    fake.script([ANSWER])
    body = {
        "model": "to-openai-chat",
        "max_tokens": 64000,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Env: linux.",
             "cache_control": {"type": "ephemeral", "scope": "global"}},
        ],
        "messages": [
            {"role": "system", "content": "Deferred tools: none."},
            {"role": "user", "content": [
                {"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}}]},
        ],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "metadata": {"user_id": "user_abc_account_def_session_ghi"},
        "tools": [{"name": "Bash", "description": "Run a command.", "input_schema": {
            "type": "object", "properties": {"command": {"type": "string"}},
            "required": ["command"]}, "cache_control": {"type": "ephemeral"}}],
    }
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01",
               "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
                                 "context-management-2025-06-27,effort-2025-11-24"}
    resp = http.post("https://api.anthropic.com/v1/messages?beta=true", json=body,
                     headers=headers)
    assert resp.status_code == 200, resp.text
    events = sse_events(resp.text)
    kinds = [e for e, _ in events if e != "ping"]
    assert kinds[0] == "message_start" and kinds.count("message_start") == 1
    assert kinds[-2:] == ["message_delta", "message_stop"]
    text = "".join(d["delta"]["text"] for e, d in events
                   if e == "content_block_delta" and d["delta"]["type"] == "text_delta")
    assert text == ANSWER.text
    start = events[0][1]["message"]["usage"]
    assert start["input_tokens"] > 0, "message_start needs a real input estimate (Claude Code)"

    rec = fake.model_calls()[-1]
    assert rec.format == "openai-chat" and rec.api_key == provider_key("openai-chat")
    assert not {k for k in rec.headers if k.startswith("anthropic-")}, rec.headers
    assert set(rec.body) <= CHAT_PARAMS, set(rec.body) - CHAT_PARAMS
    assert "cache_control" not in json.dumps(rec.body)
    system = " ".join(text_of(m["content"]) for m in rec.body["messages"]
                      if m["role"] in ("system", "developer"))
    assert "You are Claude Code." in system and "Deferred tools: none." in system
    assert last_user_text("openai-chat", rec.body) == "say hi"


CODEX_BODY = {
    "model": "to-anthropic",
    "instructions": "You are Codex.",
    "input": [
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "<permissions>sandboxed</permissions>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]},
    ],
    "tools": [{"type": "function", "name": "exec_command", "description": "Run a command.",
               "strict": False, "parameters": {"type": "object", "properties": {
                   "cmd": {"type": "string"}}, "required": ["cmd"]}}],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "stream": True,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "0199-session",
}


def check_responses_stream(resp: httpx.Response) -> None:
    assert resp.status_code == 200, resp.text
    events = sse_events(resp.text)
    types = [d["type"] for _, d in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert all(e == d["type"] for e, d in events), "event: lines must name the data's type"
    seq = [d["sequence_number"] for _, d in events]
    assert seq == sorted(seq) and len(set(seq)) == len(seq)
    text = "".join(d["delta"] for _, d in events if d["type"] == "response.output_text.delta")
    assert text == ANSWER.text
    assert events[-1][1]["response"]["usage"]["input_tokens"] == ANSWER.usage.input


def test_codex_shaped_request_over_http2_to_an_anthropic_provider(http2, fake):
    fake.script([ANSWER])
    resp = http2.post("https://api.openai.com/v1/responses", json=CODEX_BODY,
                     headers={"authorization": f"Bearer {CLIENT_KEY}",
                              "accept": "text/event-stream"})
    assert resp.http_version == "HTTP/2"
    check_responses_stream(resp)
    rec = fake.model_calls()[-1]
    assert rec.format == "anthropic" and rec.api_key == provider_key("anthropic")
    system = text_of(rec.body.get("system"))
    assert "You are Codex." in system
    assert "sandboxed" in json.dumps(rec.body)
    assert [t["name"] for t in rec.body["tools"]] == ["exec_command"]
    assert last_user_text("anthropic", rec.body) == "say hi"


def test_codex_chatgpt_mode_zstd_body(http2, fake):
    fake.script([ANSWER])
    raw = zstandard.ZstdCompressor().compress(json.dumps(CODEX_BODY).encode())
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjb2RleCJ9.c2lnbmF0dXJl"
    resp = http2.post("https://chatgpt.com/backend-api/codex/responses", content=raw,
                     headers={"authorization": f"Bearer {jwt}", "content-encoding": "zstd",
                              "content-type": "application/json",
                              "chatgpt-account-id": "acct-123", "accept": "text/event-stream"})
    check_responses_stream(resp)
    rec = fake.model_calls()[-1]
    assert rec.format == "anthropic" and last_user_text("anthropic", rec.body) == "say hi"
    assert not rec.carries(jwt) and not rec.carries("acct-123")


GEMINI_CLI_BODY = {
    "contents": [{"role": "user", "parts": [{"text": "say hi"}]}],
    "systemInstruction": {"role": "user", "parts": [{"text": "You are Gemini CLI."}]},
    "tools": [{"functionDeclarations": [{
        "name": "run_shell_command", "description": "Run a shell command.",
        "parametersJsonSchema": {"type": "object", "properties": {
            "command": {"type": "string"}}, "required": ["command"]}}]}],
    "generationConfig": {"temperature": 0, "topP": 1,
                         "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}},
}


@pytest.mark.parametrize("alt_sse", [True, False], ids=["alt-sse", "json-array"])
def test_gemini_cli_shaped_request_to_a_responses_provider(http, fake, alt_sse):
    fake.script([ANSWER])
    url = ("https://generativelanguage.googleapis.com/v1beta/models/"
           "to-openai-responses:streamGenerateContent" + ("?alt=sse" if alt_sse else ""))
    resp = http.post(url, json=GEMINI_CLI_BODY, headers={"x-goog-api-key": CLIENT_KEY})
    assert resp.status_code == 200, resp.text
    chunks = [d for _, d in sse_events(resp.text)] if alt_sse else json.loads(resp.text)
    assert isinstance(chunks, list) and chunks
    text = "".join(p.get("text", "") for c in chunks for cand in c.get("candidates", [])
                   for p in cand.get("content", {}).get("parts", []) if not p.get("thought"))
    assert text == ANSWER.text
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["promptTokenCount"] == ANSWER.usage.input
    rec = fake.model_calls()[-1]
    assert rec.format == "openai-responses" and rec.api_key == provider_key("openai-responses")
    assert rec.stream
    assert "You are Gemini CLI." in text_of(rec.body.get("instructions")) + json.dumps(
        rec.body.get("input"))
    assert [t["name"] for t in rec.body["tools"]] == ["run_shell_command"]
    assert last_user_text("openai-responses", rec.body) == "say hi"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_gemini_cli_google_login_code_assist_envelope(http, fake, stream):
    """Login-with-Google mode: cloudcode-pa /v1internal:*, bodies wrapped as
    {model, project, user_prompt_id, request}, answers wrapped as {"response": ...}."""
    fake.script([ANSWER])
    token = "ya29.a0-google-oauth-token"
    body = {"model": "to-anthropic", "project": "proj-123", "user_prompt_id": "p-1",
            "request": {k: v for k, v in GEMINI_CLI_BODY.items() if k != "tools"}}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    resp = http.post(f"https://cloudcode-pa.googleapis.com/v1internal:{action}", json=body,
                     headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    wrapped = [d for _, d in sse_events(resp.text)] if stream else [resp.json()]
    assert wrapped and all(set(w) >= {"response"} for w in wrapped), wrapped
    chunks = [w["response"] for w in wrapped]
    text = "".join(p.get("text", "") for c in chunks for cand in c.get("candidates", [])
                   for p in cand.get("content", {}).get("parts", []) if not p.get("thought"))
    assert text == ANSWER.text
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    rec = fake.model_calls()[-1]
    assert rec.format == "anthropic" and rec.api_key == provider_key("anthropic")
    assert rec.stream == stream
    assert last_user_text("anthropic", rec.body) == "say hi"
    assert "You are Gemini CLI." in text_of(rec.body.get("system"))
    assert not rec.carries(token) and not rec.carries("proj-123")
