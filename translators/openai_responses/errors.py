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
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
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

# Error types precise enough to trust over the HTTP status (another format's
# "invalid API key" may come with a 400).
_TYPE_KINDS: dict[str, ErrorKind] = {
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "rate_limit_error": "rate_limit",
    "insufficient_quota": "rate_limit",
    "overloaded_error": "overloaded",
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
    if isinstance(error, dict):
        return error_info(status, error)
    # Responses-compatible servers answer {"error": "..."}, {"message": ...}
    # or FastAPI's {"detail": ...}.
    loose = _loose_message(data, error)
    if loose:
        return error_info(status, {"message": loose})
    text = body.decode("utf-8", errors="replace").strip()[:500]
    return ErrorInfo(status, kind_for_status(status), text or f"HTTP {status}")


def _loose_message(data: Any, error: Any) -> str | None:
    if isinstance(error, str) and error:
        return error
    if not isinstance(data, dict):
        return None
    for key in ("message", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if value is not None:
            return json.dumps(value, ensure_ascii=False)[:500]
    return None


def error_info(status: int, error: dict[str, Any]) -> ErrorInfo:
    """ErrorInfo from an error object (HTTP body or stream event)."""
    code = error.get("code")
    code = str(code) if code is not None else None
    param = error.get("param")
    message = error.get("message")
    kind: ErrorKind = _TYPE_KINDS.get(str(error.get("type")), kind_for_status(status))
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
    if error.code == "model_not_found":  # as the API words it, with its 400
        return "invalid_request_error"
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
