"""Anthropic error bodies and the in-stream ``error`` event.

Shape: ``{"type": "error", "error": {"type": "<kind>_error", "message": ...},
"request_id": ...}``. Parsing accepts any bytes: HTML from a gateway, an empty
body, or another provider's JSON error all give an ErrorInfo.
"""

from __future__ import annotations

import json
from typing import Any

from ..canonical import KIND_STATUS, ErrorInfo, ErrorKind, kind_for_status
from ..sse import dumps, encode_event
from .common import ERROR_KINDS, ERROR_TYPES

_MAX_TEXT = 500


def parse_error(status: int, body: bytes) -> ErrorInfo:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict | str):
        return error_from_object(data, status)
    text = body.decode("utf-8", errors="replace").strip()[:_MAX_TEXT]
    return ErrorInfo(status, kind_for_status(status), text or f"HTTP {status}")


def error_from_object(data: dict[str, Any], status: int) -> ErrorInfo:
    """``{"error": {...}}`` (Anthropic's, or a compatible server's) -> ErrorInfo.
    ``status`` 0 (an error event inside a stream) takes the kind's status."""
    error = data.get("error")
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = {}
    wire_type = error.get("type")
    kind: ErrorKind | None = ERROR_KINDS.get(wire_type) if isinstance(wire_type, str) else None
    if kind is None:
        kind = kind_for_status(status) if status else "server"
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = str(wire_type or f"HTTP {status}")
    standard = not isinstance(wire_type, str) or wire_type in ERROR_TYPES.values()
    code = None if standard else str(wire_type)
    return ErrorInfo(status or KIND_STATUS[kind], kind, message, code=code)


def error_body(error: ErrorInfo) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(error.kind, "api_error"), "message": error.message},
    }


def render_error(error: ErrorInfo) -> tuple[int, dict[str, Any]]:
    """The status is kept when it is an HTTP error status (clients decide on
    retries by it); otherwise it is the kind's Anthropic status."""
    status = error.status if 400 <= error.status <= 599 else KIND_STATUS[error.kind]
    return status, error_body(error)


def error_event(error: ErrorInfo) -> bytes:
    return encode_event(dumps(error_body(error)), "error")
