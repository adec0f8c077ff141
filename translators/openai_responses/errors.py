"""Responses errors: HTTP error bodies and in-stream error events.

The body is Chat's envelope ``{"error": {"message", "type", "param",
"code"}}``. Unlike Chat, an unknown model is a 400 (code ``model_not_found``).
Canonically it is a ``not_found`` with status 404, so every other format
renders it as its own "not found".
"""

from __future__ import annotations

import json
from typing import Any

from ..canonical import KIND_STATUS, ErrorInfo, ErrorKind, kind_for_status

_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "invalid_request_error",  # what OpenAI sends with a 401
    "permission": "permission_error",
    "not_found": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "overloaded": "server_error",
    "server": "server_error",
    "timeout": "timeout_error",
}

_DEFAULT_CODES: dict[str, str] = {
    "authentication": "invalid_api_key",
    "rate_limit": "rate_limit_exceeded",
    "overloaded": "server_is_overloaded",
    "server": "server_error",
    "timeout": "server_error",
}

# In-stream errors carry only a code: its HTTP meaning.
_CODE_STATUS: dict[str, int] = {
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "usage_limit_reached": 429,
    "usage_not_included": 403,
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
    "invalid_request_error": 400,
    "model_not_found": 404,
    "invalid_api_key": 401,
    "server_is_overloaded": 503,
    "server_error": 500,
}


def parse_error(status: int, body: bytes) -> ErrorInfo:
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        text = body.decode("utf-8", errors="replace").strip()[:500]
        return ErrorInfo(status, kind_for_status(status), text or f"HTTP {status}")
    return error_info(status, error)


def error_info(status: int, error: dict[str, Any]) -> ErrorInfo:
    """ErrorInfo from an error object (HTTP body or stream event)."""
    code = error.get("code")
    code = str(code) if code is not None else None
    param = error.get("param")
    message = error.get("message")
    kind: ErrorKind = kind_for_status(status)
    if code == "model_not_found":
        status, kind = 404, "not_found"
    return ErrorInfo(
        status,
        kind,
        message if isinstance(message, str) and message else f"HTTP {status}",
        code=code,
        param=str(param) if param is not None else None,
    )


def stream_error_info(error: dict[str, Any]) -> ErrorInfo:
    """ErrorInfo for an ``error`` event or a failed response's ``error``."""
    code = error.get("code") or error.get("type")
    status = _CODE_STATUS.get(str(code), 500)
    return error_info(status, {**error, "code": code})


def render_error(error: ErrorInfo) -> tuple[int, dict[str, Any]]:
    status = error.status or KIND_STATUS.get(error.kind, 500)
    code = error.code or _DEFAULT_CODES.get(error.kind)
    if code == "model_not_found":
        status = 400
    elif status == 529:  # Anthropic's "overloaded": OpenAI clients know 503
        status = 503
    body = {
        "error": {
            "message": error.message,
            "type": error_type(error),
            "param": error.param,
            "code": code,
        }
    }
    return status, body


def error_type(error: ErrorInfo) -> str:
    if error.code == "insufficient_quota":
        return "insufficient_quota"
    return _TYPES.get(error.kind, "server_error")


def stream_error_fields(error: ErrorInfo) -> tuple[str, dict[str, Any]]:
    """(code, nested error object) for the ``error`` event and ``response.failed``."""
    code = error.code or _DEFAULT_CODES.get(error.kind) or _TYPES.get(error.kind, "server_error")
    nested = {
        "type": error_type(error),
        "code": code,
        "message": error.message,
        "param": error.param,
    }
    return code, nested
