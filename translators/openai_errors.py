"""OpenAI errors, for Chat Completions and Responses alike.

Both APIs answer ``{"error": {"message", "type", "param", "code"}}``;
OpenAI-compatible servers also send ``{"error": "..."}``, ``{"message": ...}``,
FastAPI's ``{"detail": ...}`` or the error wrapped in a list. One parser reads
them all, HTTP bodies and in-stream error objects alike.

Where the two APIs really differ, the Responses half says so: an unknown
model is a 400 there (a 404 in Chat; canonically it is a ``not_found`` with
status 404, so every other format renders its own "not found"), its errors
always carry a code, and its streams fail with an ``error`` event followed by
``response.failed``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .canonical import KIND_STATUS, ErrorInfo, ErrorKind, kind_for_status

_WORD_KIND: Final[dict[str, ErrorKind]] = {
    "invalid_request_error": "invalid_request",
    "context_length_exceeded": "invalid_request",
    "invalid_prompt": "invalid_request",
    "authentication_error": "authentication",
    "invalid_api_key": "authentication",
    "permission_error": "permission",
    "permission_denied": "permission",
    "usage_not_included": "permission",
    "not_found_error": "not_found",
    "model_not_found": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "usage_limit_reached": "rate_limit",
    "tokens": "rate_limit",
    "requests": "rate_limit",
    "overloaded_error": "overloaded",
    "service_unavailable": "overloaded",
    "server_is_overloaded": "overloaded",
    "server_error": "server",
    "api_error": "server",
    "internal_error": "server",
    "timeout": "timeout",
}
"""Error types and codes -> kind. Inside a stream there is no HTTP status:
the kind comes from these words alone."""

_CODE_STATUS: Final[dict[str, int]] = {"server_is_overloaded": 503}
"""In-stream codes whose HTTP meaning is not their kind's canonical status."""

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


# ------------------------------------------------------------------ parsing


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
    """An error body or in-stream error chunk -> ErrorInfo; None if
    ``payload`` does not look like an error. Without an HTTP status (inside
    a stream) the kind comes from the error's type or code."""
    fields = _fields(payload)
    return None if fields is None else _info(fields, status)


def stream_error(error: dict[str, Any]) -> ErrorInfo:
    """An error object from inside a stream (Responses' ``error`` event, flat
    or nested, or a failed response's ``error``) -> ErrorInfo."""
    return _info(_object_fields(error), None)


def _info(fields: tuple[str, str | None, Any, Any], status: int | None) -> ErrorInfo:
    message, word, code, param = fields
    if isinstance(code, int) and not isinstance(code, bool) and status is None:
        status = code  # vLLM puts the HTTP status in "code"
    code_text = code if isinstance(code, str) else None
    kind = _kind(status, word, code_text)
    if code_text == "model_not_found":
        status, kind = 404, "not_found"  # Responses says 400; it means "not found"
    elif status is None and code_text in _CODE_STATUS and _WORD_KIND[code_text] == kind:
        status = _CODE_STATUS[code_text]
    return ErrorInfo(
        status=_error_status(status, kind),
        kind=kind,
        message=message or (f"HTTP {status}" if status else "upstream error"),
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
        return _object_fields(error)
    if isinstance(error, str) and error:
        return error, _opt(payload.get("type")), payload.get("code"), None
    if "message" in payload:
        return _text(payload["message"]), _opt(payload.get("type")), payload.get("code"), None
    if "detail" in payload:
        return _text(payload["detail"]), None, None, None
    return None


def _object_fields(error: dict[str, Any]) -> tuple[str, str | None, Any, Any]:
    message, param = _text(error.get("message")), error.get("param")
    return message, _opt(error.get("type")), error.get("code"), param


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


# ---------------------------------------------------------------- rendering


def render_error(error: ErrorInfo) -> tuple[int, dict[str, Any]]:
    """Chat's error answer. Anthropic's 529 becomes 503, the overload status
    OpenAI clients (and their retry logic) know."""
    return _openai_status(error), {"error": error_body(error)}


def error_body(error: ErrorInfo, code: str | None = None) -> dict[str, Any]:
    """The ``error`` object; ``code`` replaces a missing ``error.code``."""
    return {
        "message": error.message,
        "type": _error_type(error),
        "param": error.param,
        "code": error.code or code,
    }


def _error_type(error: ErrorInfo) -> str:
    if error.code == "insufficient_quota":
        return "insufficient_quota"
    if error.code == "model_not_found":  # as both APIs word it
        return "invalid_request_error"
    return _KIND_TYPE[error.kind]


def _openai_status(error: ErrorInfo) -> int:
    status = _error_status(error.status, error.kind)
    return 503 if status == 529 else status


# ----------------------------------------------------------- Responses only

_RESPONSES_CODES: Final[dict[str, str]] = {
    "authentication": "invalid_api_key",
    "rate_limit": "rate_limit_exceeded",
    "overloaded": "server_is_overloaded",
    "server": "server_error",
    "timeout": "server_error",
}
"""Responses errors always carry a code (Codex decides by it)."""


def render_responses_error(error: ErrorInfo) -> tuple[int, dict[str, Any]]:
    """Responses' error answer: Chat's, with a code always, and an unknown
    model as the 400 the API sends."""
    status = 400 if error.code == "model_not_found" else _openai_status(error)
    return status, {"error": error_body(error, _RESPONSES_CODES.get(error.kind))}


FAILED_CODES: Final = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "data_residency_mismatch",
        "bio_policy",
        "misalignment_policy_violation",
        "vector_store_timeout",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    }
)
"""The codes of a failed response's ``error`` (the API reference's
``ResponseError.code``, which the SDKs' event types check)."""

_OPENAI_FAILED_CODES: Final = frozenset({"insufficient_quota", "context_length_exceeded"})
"""Codes outside that list that OpenAI's own streams send in
``response.failed`` and Codex acts on (it stops with a quota message, or
compacts the conversation, instead of retrying): kept, since a client of
the real API meets them too."""

_FAILED_BY_KIND: Final[dict[str, str]] = {
    "rate_limit": "rate_limit_exceeded",
    "invalid_request": "invalid_prompt",
    "request_too_large": "invalid_prompt",
}
"""Any other code -> the nearest one by kind; else ``server_error`` (an
overloaded provider too: clients retry a server error)."""


def failed_error(error: ErrorInfo) -> dict[str, Any]:
    """The ``error`` of ``response.failed``: a code a Responses client knows,
    and the provider's own code (``tool_use_failed``, ``invalid_request_error``,
    ...) kept in the message when it had to be replaced."""
    code = error.code
    if code in FAILED_CODES or code in _OPENAI_FAILED_CODES:
        return {"code": code, "message": error.message}
    mapped = _FAILED_BY_KIND.get(error.kind, "server_error")
    message = f"{code}: {error.message}" if code else error.message
    return {"code": mapped, "message": message}


def responses_stream_error(error: ErrorInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields of the ``error`` event and the ``error`` of ``response.failed``.
    The event has both shapes at once: the documented flat fields, and the
    nested ``error`` object the live API sends (which makes the SDK raise);
    its code is free text, so it is the provider's own when there is one.
    ``response.failed`` says a code of the Responses set (:func:`failed_error`)."""
    nested = error_body(error, _RESPONSES_CODES.get(error.kind) or _KIND_TYPE[error.kind])
    code = nested["code"]
    event = {"code": code, "message": error.message, "param": error.param, "error": nested}
    return event, failed_error(error)
