"""Error bodies: OpenAI's ``{"error": {...}}`` and the looser shapes of
OpenAI-compatible servers (``{"error": "..."}``, ``{"message": ...}``,
FastAPI's ``{"detail": ...}``)."""

from __future__ import annotations

import json
from typing import Any, Final

from ..canonical import KIND_STATUS, ErrorInfo, ErrorKind, kind_for_status

_WORD_KIND: Final[dict[str, ErrorKind]] = {
    "invalid_request_error": "invalid_request",
    "context_length_exceeded": "invalid_request",
    "authentication_error": "authentication",
    "invalid_api_key": "authentication",
    "permission_error": "permission",
    "permission_denied": "permission",
    "not_found_error": "not_found",
    "model_not_found": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "tokens": "rate_limit",
    "requests": "rate_limit",
    "overloaded_error": "overloaded",
    "service_unavailable": "overloaded",
    "server_error": "server",
    "api_error": "server",
    "internal_error": "server",
    "timeout": "timeout",
}

_KIND_TYPE: Final[dict[str, str]] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "overloaded": "server_error",
    "server": "server_error",
    "timeout": "server_error",
}

_MAX_MESSAGE = 1000


def parse_error(status: int, body: bytes) -> ErrorInfo:
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]  # some gateways wrap the error in a list
    info = error_from_payload(payload, status) if isinstance(payload, dict) else None
    if info is not None:
        return info
    message = text.strip()[:_MAX_MESSAGE] or f"HTTP {status}"
    return ErrorInfo(_error_status(status, None), kind_for_status(status), message)


def error_from_payload(payload: dict[str, Any], status: int | None = None) -> ErrorInfo | None:
    """An error object (HTTP body or in-stream event) -> ErrorInfo; None if
    ``payload`` does not look like an error. Without an HTTP status (inside
    a stream) the kind comes from the error's type or code."""
    fields = _fields(payload)
    if fields is None:
        return None
    message, word, code, param = fields
    if isinstance(code, int) and not isinstance(code, bool) and status is None:
        status = code  # vLLM puts the HTTP status in "code"
    code_text = code if isinstance(code, str) else None
    kind = _kind(status, word, code_text)
    return ErrorInfo(
        status=_error_status(status, kind),
        kind=kind,
        message=message or "upstream error",
        code=code_text,
        param=param if isinstance(param, str) else None,
    )


def _kind(status: int | None, word: str | None, code: str | None) -> ErrorKind:
    """A specific type or code (an auth error sent as 400) beats the status;
    the status beats the generic invalid_request_error and server_error."""
    named = [_WORD_KIND.get(word or ""), _WORD_KIND.get(code or "")]
    for kind in named:
        if kind is not None and kind not in ("invalid_request", "server"):
            return kind
    if status is not None and status >= 400:
        return kind_for_status(status)
    return named[0] or named[1] or "server"


def _fields(payload: dict[str, Any]) -> tuple[str, str | None, Any, Any] | None:
    error = payload.get("error")
    if isinstance(error, dict):
        word = error.get("type")
        return (
            _text(error.get("message")),
            word if isinstance(word, str) else None,
            error.get("code"),
            error.get("param"),
        )
    if isinstance(error, str) and error:
        return error, _opt(payload.get("type")), payload.get("code"), None
    if "message" in payload:
        return _text(payload["message"]), _opt(payload.get("type")), payload.get("code"), None
    if "detail" in payload:
        return _text(payload["detail"]), None, None, None
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value[:_MAX_MESSAGE]
    return "" if value is None else json.dumps(value, ensure_ascii=False)[:_MAX_MESSAGE]


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _error_status(status: int | None, kind: ErrorKind | None) -> int:
    if status is not None and 400 <= status <= 599:
        return status
    return KIND_STATUS[kind or "server"]


def render_error(error: ErrorInfo) -> tuple[int, dict[str, Any]]:
    """OpenAI's error shape. Anthropic's 529 becomes 503, the overload status
    OpenAI clients (and their retry logic) know."""
    status = 503 if error.status == 529 else _error_status(error.status, error.kind)
    return status, {"error": error_body(error)}


def error_body(error: ErrorInfo) -> dict[str, Any]:
    word = "insufficient_quota" if error.code == "insufficient_quota" else _KIND_TYPE[error.kind]
    return {"message": error.message, "type": word, "param": error.param, "code": error.code}
