import gzip
import zlib

import pytest
import zstandard
from omniroute_mitm.engine.core.calls import (
    CODE_ASSIST,
    Call,
    classify,
    decode_body,
    is_websocket_upgrade,
    model_and_stream,
)
from omniroute_mitm.engine.core.errors import BadRequest, EngineError

GEMINI = "generativelanguage.googleapis.com"

TABLE = [
    # method, path, host, headers, expected
    ("POST", "/v1/messages?beta=true", "api.anthropic.com", {}, Call("anthropic", "generate")),
    (
        "POST",
        "/v1/messages/count_tokens",
        "api.anthropic.com",
        {},
        Call("anthropic", "count_tokens"),
    ),
    ("POST", "/v1/chat/completions", "api.openai.com", {}, Call("openai-chat", "generate")),
    ("POST", "/v1/responses", "api.openai.com", {}, Call("openai-responses", "generate")),
    (
        "POST",
        "/backend-api/codex/responses",
        "chatgpt.com",
        {},
        Call("openai-responses", "generate"),
    ),
    (
        "POST",
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        GEMINI,
        {},
        Call("gemini", "generate", "gemini-2.5-pro", True, True),
    ),
    (
        "POST",
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
        GEMINI,
        {},
        Call("gemini", "generate", "gemini-2.5-pro", True, False),
    ),
    (
        "POST",
        "/v1/models/gemini-2.5-flash:generateContent",
        GEMINI,
        {},
        Call("gemini", "generate", "gemini-2.5-flash", False, True),
    ),
    (
        "POST",
        "/v1beta/models/gemini-2.5-flash:countTokens",
        GEMINI,
        {},
        Call("gemini", "count_tokens", "gemini-2.5-flash", False),
    ),
    ("GET", "/v1/models", "api.anthropic.com", {}, Call("anthropic", "models")),
    ("GET", "/v1/models", "api.openai.com", {}, Call("openai-chat", "models")),
    ("GET", "/v1beta/models", GEMINI, {}, Call("gemini", "models")),
    # direct (no host): the headers tell the formats apart
    ("GET", "/v1/models", None, {"x-api-key": "k"}, Call("anthropic", "models")),
    ("GET", "/v1/models", None, {"authorization": "Bearer k"}, Call("openai-chat", "models")),
    ("GET", "/v1/models", None, {"x-goog-api-key": "k"}, Call("gemini", "models")),
    ("POST", "/v1/messages", None, {}, Call("anthropic", "generate")),
    # Gemini CLI logged in with Google: Code Assist's envelope names the model in the body
    (
        "POST",
        "/v1internal:streamGenerateContent?alt=sse",
        "cloudcode-pa.googleapis.com",
        {},
        Call("gemini", "generate", None, True, True, envelope=CODE_ASSIST),
    ),
    (
        "POST",
        "/v1internal:countTokens",
        None,
        {},
        Call("gemini", "count_tokens", None, False, envelope=CODE_ASSIST),
    ),
    # not model calls
    ("POST", "/v1/messages", "example.com", {}, None),
    ("POST", "/v1/chat/completions", "api.anthropic.com", {}, None),
    ("POST", "/v1/embeddings", "api.openai.com", {}, None),
    ("GET", "/api/claude_code/settings", "api.anthropic.com", {}, None),
    ("POST", "/v1internal:loadCodeAssist", "cloudcode-pa.googleapis.com", {}, None),
    ("POST", "/v1internal:generateContent", GEMINI, {}, None),
    ("PUT", "/v1/messages", "api.anthropic.com", {}, None),
]


@pytest.mark.parametrize(("method", "path", "host", "headers", "expected"), TABLE)
def test_classify(method, path, host, headers, expected):
    assert classify(method, path, host, headers) == expected


def test_websocket_upgrade_on_responses_only():
    assert is_websocket_upgrade("GET", "/v1/responses", {"upgrade": "websocket"})
    assert is_websocket_upgrade("GET", "/backend-api/codex/responses?x=1", {"upgrade": "WebSocket"})
    assert not is_websocket_upgrade("GET", "/v1/responses", {})
    assert not is_websocket_upgrade("POST", "/v1/messages", {"upgrade": "websocket"})


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("", lambda b: b),
        ("identity", lambda b: b),
    ],
)
def test_decode_body(encoding, encode):
    assert decode_body(encode(b'{"a":1}'), encoding) == b'{"a":1}'


def test_decode_body_errors_are_client_errors():
    with pytest.raises(BadRequest, match="cannot decode the gzip request body"):
        decode_body(b"not gzip", "gzip")
    with pytest.raises(EngineError) as info:
        decode_body(b"x", "br")
    assert info.value.status == 415


def test_model_and_stream():
    assert model_and_stream(Call("anthropic", "generate"), {"model": "m", "stream": True}) == (
        "m",
        True,
    )
    assert model_and_stream(Call("gemini", "generate", "g", True), {}) == ("g", True)
    with pytest.raises(BadRequest):
        model_and_stream(Call("openai-chat", "generate"), {"model": 3})


def test_a_passed_through_body_keeps_its_numbers_when_the_model_is_renamed():
    from omniroute_mitm.engine.core.calls import dumps, parse_json
    from omniroute_mitm.engine.translate.shaping import Asked, passthrough_body

    raw = b'{"model": "a", "metadata": {"id": 1180591620717411303424}, "n": 3}'
    body = parse_json(raw)
    out = passthrough_body("anthropic", Asked(body, raw, None, None, False), "b", None)
    assert out == b'{"model":"b","metadata":{"id":1180591620717411303424},"n":3}'
    assert dumps({"k": 2**70}) == b'{"k":1180591620717411303424}'


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("zstd", lambda b: zstandard.ZstdCompressor(write_content_size=False).compress(b)),
    ],
)
def test_a_body_that_decodes_past_the_limit_is_refused_before_it_is_whole(encoding, encode):
    bomb = encode(b"\0" * (8 * 1024 * 1024))  # a few KB that decode to 8 MiB
    with pytest.raises(EngineError) as info:
        decode_body(bomb, encoding, limit=1024 * 1024)
    assert info.value.status == 413 and "over the limit of 1 MiB" in info.value.message
    assert decode_body(bomb, encoding, limit=8 * 1024 * 1024) == b"\0" * (8 * 1024 * 1024)


def test_gzip_members_one_after_the_other_decode_whole():
    assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip") == b"abcd"
    with pytest.raises(BadRequest):
        decode_body(gzip.compress(b"abcdef")[:-12], "gzip")
