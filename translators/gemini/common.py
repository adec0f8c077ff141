"""What the Gemini modules share: names, finish reasons, usage, signatures."""

from __future__ import annotations

import re
from typing import Any

from ..canonical import FormatName, Meta, StopReason, Usage, unwrap_meta, wrap_meta

NAME: FormatName = "gemini"

DUMMY_SIGNATURE = "skip_thought_signature_validator"
"""Google's documented placeholder for a functionCall whose real signature is
unknown (history from another model); Gemini CLI sends the same."""

REASONING_KEY = "_reasoning"
"""Inside a wrapped functionCall signature: the foreign thinking that came
before the call. Gemini CLI drops thought parts from its history but echoes a
call's thoughtSignature, so thinking that another provider needs back (Claude
wants its signed thinking before a tool_use) rides on the call."""

FINISH_TO_STOP: dict[str, StopReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    # A call to a tool the request did not offer (or allowed none): the turn
    # failed, for every client (Responses "failed", never a tool stop).
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
}
"""Anything else (OTHER, FINISH_REASON_UNSPECIFIED, new values) reads as stop."""

STOP_TO_FINISH: dict[str, str] = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "tool_use": "STOP",
    "pause_turn": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    # Gemini has no refusal reason; SAFETY is what it says when it declines.
    "refusal": "SAFETY",
    "error": "OTHER",
}


def stop_reason(finish: Any, has_calls: bool) -> StopReason:
    reason = FINISH_TO_STOP.get(finish, "stop") if isinstance(finish, str) else "stop"
    return "tool_use" if has_calls and reason == "stop" else reason


_SNAKE: dict[str, str] = {}  # field names are constants of this package: it stays small


def field(obj: dict[str, Any], name: str) -> Any:
    """``obj[name]``, also under its snake_case spelling: the REST API takes
    both (``systemInstruction`` / ``system_instruction``) and curl examples in
    Google's docs use the latter."""
    value = obj.get(name)
    if value is None:
        snake = _SNAKE.get(name)
        if snake is None:
            snake = _SNAKE[name] = re.sub(r"([A-Z])", r"_\1", name).lower()
        value = obj.get(snake)
    return value


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _count(meta: dict[str, Any], name: str) -> int:
    value = field(meta, name)
    return value if isinstance(value, int) else 0


def parse_usage(meta: Any) -> Usage | None:
    """usageMetadata -> canonical. promptTokenCount already includes the
    cached tokens; candidatesTokenCount excludes the thoughts;
    toolUsePromptTokenCount (grounding's search results, billed as input)
    is outside promptTokenCount and goes into the input
    (totalTokenCount = prompt + toolUsePrompt + candidates + thoughts)."""
    if not isinstance(meta, dict):
        return None
    thoughts = _count(meta, "thoughtsTokenCount")
    tool_prompt = _count(meta, "toolUsePromptTokenCount")
    return Usage(
        input_tokens=_count(meta, "promptTokenCount") + tool_prompt,
        output_tokens=_count(meta, "candidatesTokenCount") + thoughts,
        cache_read_tokens=_count(meta, "cachedContentTokenCount"),
        reasoning_tokens=thoughts,
        tool_prompt_tokens=tool_prompt,
    )


def render_usage(usage: Usage) -> dict[str, Any]:
    tool_prompt = min(max(usage.tool_prompt_tokens, 0), usage.input_tokens)
    out: dict[str, Any] = {"promptTokenCount": usage.input_tokens - tool_prompt}
    if usage.output_tokens > usage.reasoning_tokens:
        # Gemini leaves the count out when nothing was generated.
        out["candidatesTokenCount"] = usage.output_tokens - usage.reasoning_tokens
    out["totalTokenCount"] = usage.input_tokens + usage.output_tokens
    if usage.cache_read_tokens:
        out["cachedContentTokenCount"] = usage.cache_read_tokens
    if tool_prompt:
        out["toolUsePromptTokenCount"] = tool_prompt
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    return out


def derived_call_id(response_id: str, n: int) -> str:
    """An id for the ``n``-th call of a response that came without one (Gemini
    usually omits them). Derived from the response id rather than drawn from
    Env: unique per response, and a stream's output then does not depend on
    how its bytes were split (ids drawn while decoding would interleave with
    the encoder's own draws differently)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in response_id)
    return f"call_{safe}_{n}"


def signature_meta(part: dict[str, Any]) -> Meta:
    """The meta a part's thoughtSignature stands for: Gemini's own signature,
    or the foreign metadata our encoder wrapped into it (never both)."""
    sig = field(part, "thoughtSignature")
    if not isinstance(sig, str) or not sig or sig == DUMMY_SIGNATURE:
        return {}
    foreign = unwrap_meta(sig)
    if foreign is not None:
        return foreign
    return {NAME: {"thoughtSignature": sig}}


def own_signature(meta: Meta) -> str | None:
    sig = meta.get(NAME, {}).get("thoughtSignature")
    return sig if isinstance(sig, str) and sig else None


def client_signature(meta: Meta, extra: Meta | None = None) -> str | None:
    """The thoughtSignature to show a Gemini client: Gemini's own, else the
    foreign metadata (plus ``extra``) wrapped so it comes back to us."""
    own = own_signature(meta)
    if own is not None:
        return own
    foreign = {k: v for k, v in meta.items() if k != NAME}
    if extra:
        foreign.update(extra)
    return wrap_meta(foreign) if foreign else None
