"""The one OpenAI error module: Chat and Responses read the same error bodies
and in-stream errors the same way, and differ only where the APIs do."""

from __future__ import annotations

import json

import pytest
import streamkit
from omniroute_mitm.translators.base import WireFormat
from omniroute_mitm.translators.canonical import ErrorInfo, StreamError
from omniroute_mitm.translators.openai_chat import FORMAT as CHAT
from omniroute_mitm.translators.openai_responses import FORMAT as RESPONSES

BOTH = pytest.mark.parametrize("fmt", [CHAT, RESPONSES], ids=lambda f: f.name)


@BOTH
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # An unknown model is "not found" whichever status the server used.
        (
            400,
            b'{"error": {"message": "no such model", "type": "invalid_request_error",'
            b' "code": "model_not_found"}}',
            ErrorInfo(404, "not_found", "no such model", "model_not_found"),
        ),
        # A precise code beats a generic status (an auth error sent as 400).
        (
            400,
            b'{"error": {"message": "k", "type": "invalid_request_error",'
            b' "code": "invalid_api_key"}}',
            ErrorInfo(400, "authentication", "k", "invalid_api_key"),
        ),
        (
            400,
            b'[{"error": {"message": "wrapped", "code": 400, "status": "INVALID_ARGUMENT"}}]',
            ErrorInfo(400, "invalid_request", "wrapped"),
        ),
        (422, b'{"detail": "Unprocessable"}', ErrorInfo(422, "invalid_request", "Unprocessable")),
        (502, b"<html>Bad Gateway</html>", ErrorInfo(502, "server", "<html>Bad Gateway</html>")),
    ],
)
def test_both_formats_read_an_error_body_alike(
    fmt: WireFormat, status: int, body: bytes, expected: ErrorInfo
) -> None:
    assert fmt.parse_error(status, body) == expected


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("rate_limit_exceeded", 429, "rate_limit"),
        ("usage_limit_reached", 429, "rate_limit"),
        ("usage_not_included", 403, "permission"),
        ("server_is_overloaded", 503, "overloaded"),
        ("context_length_exceeded", 400, "invalid_request"),
        ("something_new", 500, "server"),
    ],
)
def test_an_error_inside_either_stream_means_the_same(code: str, status: int, kind: str) -> None:
    error = {"type": "error", "code": code, "message": "stopped"}
    chat = f"data: {json.dumps({'error': error})}\n\n".encode()
    responses = f"event: error\ndata: {json.dumps({'type': 'error', 'error': error})}\n\n".encode()
    got: list[ErrorInfo] = []
    for fmt, data in ((CHAT, chat), (RESPONSES, responses)):
        last = streamkit.decode(fmt, [data])[-1]
        assert isinstance(last, StreamError)
        got.append(last.error)
    assert got[0] == got[1]
    assert (got[0].status, got[0].kind, got[0].code) == (status, kind, code)


@pytest.mark.parametrize(
    ("error", "chat_status", "responses_status", "responses_code"),
    [
        (ErrorInfo(404, "not_found", "m", code="model_not_found"), 404, 400, "model_not_found"),
        (ErrorInfo(401, "authentication", "k"), 401, 401, "invalid_api_key"),
        (ErrorInfo(0, "overloaded", "busy"), 503, 503, "server_is_overloaded"),
    ],
)
def test_the_formats_differ_only_where_the_apis_do(
    error: ErrorInfo, chat_status: int, responses_status: int, responses_code: str
) -> None:
    chat_status_got, chat = CHAT.render_error(error)
    responses_status_got, responses = RESPONSES.render_error(error)
    assert (chat_status_got, responses_status_got) == (chat_status, responses_status)
    assert chat["error"]["code"] == error.code  # Chat sends the code it has, or none
    assert responses["error"]["code"] == responses_code  # Responses always sends one
    assert chat["error"]["type"] == responses["error"]["type"]
