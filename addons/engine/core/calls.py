"""Which native endpoint a request is, shared by the front and the engine.

:func:`classify` tells a model call (and its client format) from everything
else; the front redirects only what it returns for, the engine serves it.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson
import zstandard
from omniroute_mitm.translators.sse import loads_exact

from . import limits
from .endpoints import DEFAULT, ENGINE_PATHS, Catalog
from .errors import BadRequest, EngineError
from .limits import MIB

ANTHROPIC_HOST = "api.anthropic.com"
OPENAI_HOST = "api.openai.com"
CHATGPT_HOST = "chatgpt.com"
GEMINI_HOST = "generativelanguage.googleapis.com"
CODE_ASSIST_HOST = "cloudcode-pa.googleapis.com"
AI_HOSTS = (ANTHROPIC_HOST, OPENAI_HOST, CHATGPT_HOST, GEMINI_HOST, CODE_ASSIST_HOST)
CODE_ASSIST = "code-assist"  # Gemini CLI logged in with Google: see clients.py

Kind = Literal[
    "generate", "count_tokens", "models", "retrieve", "delete", "input_items", "conversation"
]
STORED_KINDS = ("retrieve", "delete", "input_items", "conversation")
"""Calls on a stored Responses response (see engine.history)."""

_GEMINI_CALL = re.compile(
    r"^/(?:v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):"
    r"(?P<action>generateContent|streamGenerateContent|countTokens)$"
)
_CODE_ASSIST_CALL = re.compile(
    r"^/v1internal:(?P<action>generateContent|streamGenerateContent|countTokens)$"
)
_CONVERSATION = re.compile(r"^/v1/conversations(/[\w.-]+(/items(/[\w.-]+)?)?)?$")
_RESPONSE = re.compile(r"^/v1/responses/(?P<id>[A-Za-z0-9_.-]+)(?P<items>/input_items)?$")
_POST_PATHS: dict[str, tuple[str, Kind, tuple[str, ...]]] = {
    "/v1/messages": ("anthropic", "generate", (ANTHROPIC_HOST,)),
    "/v1/messages/count_tokens": ("anthropic", "count_tokens", (ANTHROPIC_HOST,)),
    "/v1/chat/completions": ("openai-chat", "generate", (OPENAI_HOST,)),
    "/v1/responses": ("openai-responses", "generate", (OPENAI_HOST,)),
    "/backend-api/codex/responses": ("openai-responses", "generate", (CHATGPT_HOST,)),
}


@dataclass(frozen=True, slots=True)
class Call:
    """A classified request. Gemini carries model and streaming in the URL;
    the other formats in the body (see :func:`model_and_stream`)."""

    format: str
    kind: Kind
    model: str | None = None
    stream: bool | None = None
    sse: bool = True
    envelope: str | None = None
    """CODE_ASSIST: a Gemini call wrapped in Code Assist's envelope."""
    resource: str | None = None
    """The response id of a call on a stored response."""
    compact: bool = False
    """POST /v1/responses/compact: a compaction pass (see engine.history)."""


def is_ai_host(host: str | None, catalog: Catalog = DEFAULT) -> bool:
    """A host whose model calls the front takes: builtin, catalogued, configured."""
    return catalog.knows(host)


def classify(
    method: str,
    path: str,
    host: str | None = None,
    headers: Any = None,
    catalog: Catalog = DEFAULT,
) -> Call | None:
    """The call a request makes, or None when it is no model endpoint.
    ``host`` None means the engine was called directly (any path accepted);
    ``headers`` (any mapping) tell Anthropic's GET /v1/models from OpenAI's;
    ``catalog`` knows the hosts beyond the builtin five (engine.core.endpoints)."""
    route, _, query = path.partition("?")
    route = route.rstrip("/") or "/"
    if host is not None and not catalog.knows(host):
        return None
    host = host.lower() if host else None
    if host is not None and host not in AI_HOSTS:
        return _classify_catalogued(method, route, host, catalog)
    if _CONVERSATION.match(route) and host in (None, OPENAI_HOST):
        if method in ("GET", "POST", "DELETE"):
            return Call("openai-responses", "conversation", resource=path)
    if method == "POST":
        return _classify_post(route, query, host)
    if method in ("GET", "DELETE") and (stored := _classify_stored(method, route, host)):
        return stored
    if method == "GET":
        return _classify_models(route, host, headers or {})
    return None


def _classify_catalogued(method: str, route: str, host: str, catalog: Catalog) -> Call | None:
    """A catalogued vendor's model call; a host only a route names speaks the
    standard paths (/v1/messages, /v1/chat/completions, /v1/responses)."""
    found = catalog.lookup(method, route, host)
    if found is not None:
        endpoint, kind = found
        return Call(endpoint.format, "count_tokens" if kind == "count_tokens" else "generate")
    if method == "POST" and host in catalog.route_hosts and route in _POST_PATHS:
        fmt, kind, _ = _POST_PATHS[route]
        return Call(fmt, kind)
    return None


def engine_path(call: Call, path: str) -> str:
    """Where the engine serves ``call`` (a catalogued vendor's path rewritten
    to the standard one), with the query kept."""
    target = ENGINE_PATHS.get((call.format, call.kind))
    if target is None or call.compact or call.envelope:
        return path
    _, sep, query = path.partition("?")
    return target + sep + query


def _classify_stored(method: str, route: str, host: str | None) -> Call | None:
    m = _RESPONSE.match(route)
    if m is None or host not in (None, OPENAI_HOST) or m.group("id") == "compact":
        return None
    if method == "DELETE":
        return None if m.group("items") else Call("openai-responses", "delete", resource=m["id"])
    kind: Kind = "input_items" if m.group("items") else "retrieve"
    return Call("openai-responses", kind, resource=m.group("id"))


def _classify_post(route: str, query: str, host: str | None) -> Call | None:
    if route == "/v1/responses/compact":
        openai = host in (None, OPENAI_HOST)
        return Call("openai-responses", "generate", compact=True) if openai else None
    if route in _POST_PATHS:
        fmt, kind, hosts = _POST_PATHS[route]
        return Call(fmt, kind) if host is None or host in hosts else None
    m = _CODE_ASSIST_CALL.match(route)
    if m is not None and host in (None, CODE_ASSIST_HOST):  # the model is in the body
        return _gemini_call(m.group("action"), None, query, CODE_ASSIST)
    m = _GEMINI_CALL.match(route)
    if m is None or host not in (None, GEMINI_HOST):
        return None
    return _gemini_call(m.group("action"), m.group("model"), query)


def _gemini_call(action: str, model: str | None, query: str, envelope: str | None = None) -> Call:
    if action == "countTokens":
        return Call("gemini", "count_tokens", model, False, envelope=envelope)
    stream = action == "streamGenerateContent"
    sse = not stream or parse_qs(query).get("alt") == ["sse"]
    return Call("gemini", "generate", model, stream, sse, envelope)


def _classify_models(route: str, host: str | None, headers: Any) -> Call | None:
    if route in ("/v1beta/models", "/v1alpha/models"):
        return Call("gemini", "models") if host in (None, GEMINI_HOST) else None
    if route != "/v1/models":
        return None
    if host == GEMINI_HOST or (host is None and "x-goog-api-key" in headers):
        return Call("gemini", "models")
    if host == ANTHROPIC_HOST or (
        host is None and ("anthropic-version" in headers or "x-api-key" in headers)
    ):
        return Call("anthropic", "models")
    return Call("openai-chat", "models") if host in (None, OPENAI_HOST) else None


def is_websocket_upgrade(method: str, path: str, headers: Any) -> bool:
    """Codex tries a WebSocket on /v1/responses first; a 426 makes it use SSE."""
    route = path.partition("?")[0].rstrip("/")
    upgrade = str(headers.get("upgrade", "")).lower()
    return method == "GET" and route.endswith("/responses") and upgrade == "websocket"


def decode_body(raw: bytes, encoding: str | None, limit: int = limits.MAX_BODY) -> bytes:
    """A request body decoded by its content-encoding (Codex sends zstd); a
    body that decodes to more than ``limit`` bytes is refused (413) as soon as
    it does, never decoded whole."""
    for coding in reversed([c.strip().lower() for c in (encoding or "").split(",") if c.strip()]):
        try:
            raw = _decode_one(raw, coding, limit)
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
            raise BadRequest(f"cannot decode the {coding} request body: {exc}") from None
        if len(raw) > limit:
            raise _too_large(coding, limit)
    return raw


def _too_large(coding: str, limit: int) -> EngineError:
    message = f"the request body decoded ({coding}) is over the limit of {limits.shown(limit)}"
    return EngineError(413, message, "request_too_large")


def _decode_one(raw: bytes, coding: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``raw`` decoded."""
    if coding in ("identity", ""):
        return raw
    if coding in ("gzip", "x-gzip"):
        return _inflate(raw, 31, limit, members=True)
    if coding == "deflate":
        return _inflate(raw, 15, limit, members=False)
    if coding == "zstd":
        if zstandard.frame_content_size(raw) > limit:  # said in its header (-1: not said)
            raise _too_large(coding, limit)
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        out = bytearray()
        while len(out) <= limit and (chunk := reader.read(min(MIB, limit + 1 - len(out)))):
            out += chunk
        return bytes(out)
    raise EngineError(415, f"unsupported content-encoding {coding!r}", "invalid_request")


def _inflate(raw: bytes, wbits: int, limit: int, *, members: bool) -> bytes:
    out = bytearray()
    data = raw
    while data and len(out) <= limit:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            break
        if not inflater.eof:
            raise EOFError("compressed body ended before the end-of-stream marker")
        data = inflater.unused_data if members else b""
    return bytes(out)


def parse_json(body: bytes) -> dict[str, Any]:
    """A request body as a dict (fast and exact: :func:`translators.sse.loads_exact`)."""
    try:
        data = loads_exact(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


def model_and_stream(call: Call, body: dict[str, Any]) -> tuple[str, bool]:
    """The model asked for and whether the client streams."""
    if call.model is not None:
        return call.model, bool(call.stream)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("request body has no 'model'")
    return model, body.get("stream") is True


def dumps(obj: Any) -> bytes:
    """Compact JSON as the engine writes it (UTF-8, no spaces): orjson, the json
    module for what orjson refuses (integers beyond 64 bits, non-string keys)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
