"""Google API errors: ``{"error": {"code", "message", "status", "details"}}``."""

from __future__ import annotations

import json
from typing import Any

from ..canonical import ErrorInfo, ErrorKind, kind_for_status
from .common import as_dict, as_list

STATUS_KIND: dict[str, ErrorKind] = {
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "invalid_request",
    "OUT_OF_RANGE": "invalid_request",
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "UNAVAILABLE": "overloaded",
    "DEADLINE_EXCEEDED": "timeout",
    "INTERNAL": "server",
    "UNKNOWN": "server",
}

KIND_STATUS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "INVALID_ARGUMENT"),
    "authentication": (401, "UNAUTHENTICATED"),
    "permission": (403, "PERMISSION_DENIED"),
    "not_found": (404, "NOT_FOUND"),
    "request_too_large": (400, "INVALID_ARGUMENT"),
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "overloaded": (503, "UNAVAILABLE"),
    "server": (500, "INTERNAL"),
    "timeout": (504, "DEADLINE_EXCEEDED"),
}

_KEY_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def parse_error(status: int, body: bytes) -> ErrorInfo:
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", errors="replace").strip()[:500]
        return ErrorInfo(status, kind_for_status(status), text or f"HTTP {status}")
    if isinstance(data, list) and data:
        data = data[0]  # streamGenerateContent without alt=sse wraps it in an array
    error = as_dict(as_dict(data).get("error"))
    if not error:
        return ErrorInfo(status, kind_for_status(status), body.decode(errors="replace")[:500])
    return error_info(error, status)


def error_info(error: dict[str, Any], status: int) -> ErrorInfo:
    """The ``error`` object -> ErrorInfo; ``status`` is the HTTP status (an
    in-stream error arrives with 200: its own ``code`` counts then)."""
    code = error.get("code")
    if status < 400 and isinstance(code, int) and code >= 400:
        status = code
    grpc = str(error.get("status") or "")
    reason = _reason(error)
    message = str(error.get("message") or grpc or f"HTTP {status}")
    kind = STATUS_KIND.get(grpc) or kind_for_status(status)
    if status == 413 or "payload size exceeds" in message.lower():
        kind = "request_too_large"
    if reason in _KEY_REASONS:
        # Gemini answers a bad key with 400 INVALID_ARGUMENT; it is still
        # an authentication problem to every other client.
        kind = "authentication"
    return ErrorInfo(status, kind, message, code=reason or grpc or None)


def _reason(error: dict[str, Any]) -> str | None:
    for detail in as_list(error.get("details")):
        reason = as_dict(detail).get("reason")
        if isinstance(reason, str):
            return reason
    return None


def render_error(error: ErrorInfo) -> tuple[int, dict[str, Any]]:
    status = http_status(error)
    return status, error_body(error, status)


def http_status(error: ErrorInfo) -> int:
    """The status to show a Gemini client: the error's own, except
    Anthropic's 529, which Google's SDKs would not retry (they do 503)."""
    if error.status == 529:
        return 503
    return error.status if error.status >= 400 else KIND_STATUS[error.kind][0]


def error_body(error: ErrorInfo, status: int) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "message": error.message}
    body["status"] = KIND_STATUS[error.kind][1]
    if error.kind == "authentication" and status == 400:
        # How Gemini itself says "bad API key".
        body["status"] = "INVALID_ARGUMENT"
        body["details"] = [{"@type": _ERROR_INFO, "reason": "API_KEY_INVALID"}]
    return {"error": body}
