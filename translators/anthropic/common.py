"""Tables and small conversions shared by the Anthropic request, response and
stream modules: stop reasons, usage arithmetic, error types, JSON helpers."""

from __future__ import annotations

import json
from typing import Any, Final

from ..canonical import ErrorKind, StopReason, Usage

NAME: Final = "anthropic"

STOP_FROM_WIRE: dict[str, StopReason] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_use",
    "stop_sequence": "stop_sequence",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    # The context window, not max_tokens, ran out: to a client it is a length stop.
    "model_context_window_exceeded": "length",
}

STOP_TO_WIRE: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_use": "tool_use",
    "stop_sequence": "stop_sequence",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "content_filter": "refusal",
    "error": "end_turn",
}

ERROR_TYPES: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "server": "api_error",
    "timeout": "timeout_error",
}

ERROR_KINDS: dict[str, ErrorKind] = {wire: kind for kind, wire in ERROR_TYPES.items()}
ERROR_KINDS["billing_error"] = "permission"
ERROR_KINDS["gateway_timeout_error"] = "timeout"


def stop_from_wire(value: Any) -> StopReason:
    if isinstance(value, str):
        return STOP_FROM_WIRE.get(value, "stop")
    return "stop"


def stop_to_wire(reason: StopReason, has_tool_use: bool, has_refusal: bool = False) -> str:
    """``tool_use`` only when a tool_use block was sent (a client waits for
    tools otherwise), and a plain stop after tool calls is a tool stop (some
    providers say STOP when they call functions). An answer that is a
    refusal (Responses says "completed" with a refusal part) is a refusal:
    Anthropic has no refusal block, so the stop reason is all that says so."""
    if has_tool_use and reason in ("stop", "tool_use"):
        return "tool_use"
    if has_refusal and reason == "stop":
        return "refusal"
    if reason == "tool_use":
        return "end_turn"
    return STOP_TO_WIRE.get(reason, "end_turn")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_wire(raw: Any) -> Usage | None:
    """Anthropic's input_tokens excludes cached tokens; canonical includes them."""
    if not isinstance(raw, dict):
        return None
    cache_read = _int(raw.get("cache_read_input_tokens"))
    cache_write = _int(raw.get("cache_creation_input_tokens"))
    details = raw.get("output_tokens_details")
    thinking = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    split = raw.get("cache_creation")  # {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}
    hour = _int(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    server = raw.get("server_tool_use")
    server = server if isinstance(server, dict) else {}
    return Usage(
        input_tokens=_int(raw.get("input_tokens")) + cache_read + cache_write,
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_write,
        reasoning_tokens=thinking,
        cache_creation_1h_tokens=min(hour, cache_write),
        web_search_requests=_int(server.get("web_search_requests")),
        web_fetch_requests=_int(server.get("web_fetch_requests")),
    )


def usage_to_wire(usage: Usage) -> dict[str, Any]:
    cached = usage.cache_read_tokens + usage.cache_creation_tokens
    out: dict[str, Any] = {
        "input_tokens": max(0, usage.input_tokens - cached),
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.cache_creation_1h_tokens:
        hour = usage.cache_creation_1h_tokens
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": max(0, usage.cache_creation_tokens - hour),
            "ephemeral_1h_input_tokens": hour,
        }
    if usage.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    if usage.web_search_requests or usage.web_fetch_requests:
        out["server_tool_use"] = {
            "web_search_requests": usage.web_search_requests,
            "web_fetch_requests": usage.web_fetch_requests,  # the SDK requires both
        }
    return out


def arguments_to_input(arguments: str) -> dict[str, Any] | None:
    """A tool call's JSON text as the object Anthropic wants; None if the
    text is not a JSON object ("" is an empty object)."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def custom_input(arguments: str) -> dict[str, Any]:
    """Freeform (custom tool) input wrapped as the function input we declare."""
    return {"input": arguments}


def anthropic_meta(meta: dict[str, dict[str, Any]]) -> dict[str, Any]:
    value = meta.get(NAME)
    return value if isinstance(value, dict) else {}


def foreign_meta(meta: dict[str, dict[str, Any]]) -> bool:
    """Metadata issued by another format only (to be carried, wrapped)."""
    return bool(meta) and NAME not in meta
