"""Client quirks: local answers to the CLIs' side calls, Code Assist's envelope."""

from __future__ import annotations

import json

import pytest
from omniroute_mitm.engine.core.calls import CODE_ASSIST, classify
from omniroute_mitm.engine.core.errors import BadRequest
from omniroute_mitm.engine.translate.codeassist import (
    CodeAssistStream,
    unwrap_code_assist,
    wrap_code_assist,
)
from omniroute_mitm.front.offline import offline_answer
from omniroute_mitm.translators import get_format
from omniroute_mitm.translators.canonical import counting_env

ANTHROPIC, CHATGPT, CODE = "api.anthropic.com", "chatgpt.com", "cloudcode-pa.googleapis.com"


@pytest.mark.parametrize(
    ("method", "host", "path", "status", "body"),
    [
        # Claude Code: `{}` fails the format check of these two (5 retries each)
        ("GET", ANTHROPIC, "/api/claude_code/settings", 404, None),
        ("GET", ANTHROPIC, "/api/claude_code/policy_limits", 404, None),
        ("GET", ANTHROPIC, "/api/claude_cli/bootstrap?entrypoint=sdk-cli", 200, {}),
        ("GET", ANTHROPIC, "/api/claude_code/organizations/metrics_enabled", 200,
         {"metrics_logging_enabled": False}),
        ("POST", ANTHROPIC, "/api/eval/sdk-abc", 200, {"features": {}}),
        ("POST", ANTHROPIC, "/api/event_logging/v2/batch", 204, None),
        ("GET", ANTHROPIC, "/mcp-registry/v0/servers?limit=100", 200,
         {"servers": [], "metadata": {"count": 0}}),
        # Codex
        ("GET", CHATGPT, "/backend-api/codex/models?client_version=0.169.0", 200, {"models": []}),
        ("GET", CHATGPT, "/backend-api/plugins/export/curated", 404, None),
        # Gemini CLI logged in with Google
        ("POST", CODE, "/v1internal:loadCodeAssist", 200, None),
        ("POST", CODE, "/v1internal:recordCodeAssistMetrics", 200, {}),
        # anything else on an AI host: a 404, never the vendor
        ("GET", "API.Anthropic.com", "/api/something_new", 404, None),
        ("POST", CODE, "/v1internal:somethingNew", 404, None),
    ],
)  # fmt: skip
def test_offline_answers(method, host, path, status, body):
    answer = offline_answer(method, host, path)
    assert answer.status == status
    if status == 204:
        assert answer.body == b"" and answer.headers == {}
        return
    assert answer.headers == {"content-type": "application/json"}
    data = json.loads(answer.body)
    if body is not None:
        assert data == body
    if status == 404 and host.lower() == ANTHROPIC:
        assert data["type"] == "error" and data["error"]["type"] == "not_found_error"


def test_load_code_assist_gives_a_tier_and_a_project():
    data = json.loads(offline_answer("POST", CODE, "/v1internal:loadCodeAssist").body)
    assert data["currentTier"]["id"] and data["cloudaicompanionProject"]


def test_unwrap_generate_and_count_tokens():
    call = classify("POST", "/v1internal:streamGenerateContent?alt=sse", CODE)
    assert call is not None and call.envelope == CODE_ASSIST
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "session_id": "s1"}
    body = {"model": "gemini-2.5-pro", "project": "p", "user_prompt_id": "u", "request": request}
    unwrapped, plain = unwrap_code_assist(call, body)
    assert (unwrapped.model, unwrapped.stream, unwrapped.envelope) == ("gemini-2.5-pro", True, None)
    assert plain == {"contents": request["contents"]}  # session_id is Code Assist's own

    count = classify("POST", "/v1internal:countTokens", CODE)
    assert count is not None
    body = {"request": {"model": "models/gemini-2.5-pro", "contents": []}}
    unwrapped, plain = unwrap_code_assist(count, body)
    assert (unwrapped.model, plain) == ("gemini-2.5-pro", {"contents": []})

    with pytest.raises(BadRequest):
        unwrap_code_assist(call, {"model": "m", "contents": []})


def test_wrap_keeps_errors_as_they_are():
    assert json.loads(wrap_code_assist(b'{"candidates":[],"responseId":"r1"}')) == {
        "response": {"candidates": [], "responseId": "r1"},
        "traceId": "r1",
    }
    error = b'{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}'
    assert wrap_code_assist(error) == error


@pytest.mark.parametrize("step", [1, 7, 100_000])
def test_code_assist_stream_wraps_every_event(step):
    gemini = get_format("gemini")
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]},
                         "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}},
    ]  # fmt: skip
    data = b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)
    stream = CodeAssistStream(gemini, gemini, counting_env(), model="m")  # same format: bytes pass
    out = b"".join(stream.feed(data[i : i + step]) for i in range(0, len(data), step))
    out += stream.finish()
    lines = [line for line in out.split(b"\r\n") if line]
    assert [json.loads(line[6:]) for line in lines] == [{"response": e} for e in events]
    assert out.count(b"\r\n\r\n") == 2
