"""Pieces shared by the request, response and stream halves of openai-chat."""

from __future__ import annotations

from typing import Any, Final

from ..canonical import (
    FormatName,
    Media,
    StopReason,
    TranslationError,
    Usage,
    output_with_reasoning,
)

NAME: Final[FormatName] = "openai-chat"

REASONING_FIELDS: Final = ("reasoning_content", "reasoning")
"""DeepSeek (and vLLM before 0.10) say ``reasoning_content``; OpenRouter,
Groq, Ollama and newer vLLM say ``reasoning``. Both mean the same text."""

_FINISH_TO_STOP: Final[dict[str, StopReason]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
    "error": "error",  # OpenRouter, when the upstream model failed mid-answer
}

_STOP_TO_FINISH: Final[dict[str, str]] = {
    "stop": "stop",
    "length": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    # Chat has no finer words for these: the answer simply ended. A refusal
    # still shows, as ``message.refusal``.
    "stop_sequence": "stop",
    "refusal": "stop",
    "pause_turn": "stop",
    "error": "stop",
}


def stop_reason(finish_reason: Any, *, has_tool_calls: bool, has_refusal: bool) -> StopReason:
    """A chat ``finish_reason`` -> canonical. Several providers (Gemini's
    compatibility layer among them) say ``stop`` after tool calls."""
    reason = (
        _FINISH_TO_STOP.get(finish_reason, "stop") if isinstance(finish_reason, str) else "stop"
    )
    if reason == "stop" and has_tool_calls:
        return "tool_use"
    if reason == "stop" and has_refusal:
        return "refusal"
    return reason


def finish_reason(reason: StopReason, *, has_tool_calls: bool, has_refusal: bool = False) -> str:
    """Canonical -> chat. Clients run tools when they see ``tool_calls``, so
    it is said exactly when tool calls are present, unless the output was
    cut or the turn failed: a failed turn (Gemini's UNEXPECTED_TOOL_CALL, a
    call to a tool the request did not offer) is never a tool stop, as in
    every other client format. A refusal the model wrote shows in
    ``message.refusal`` with ``stop``, as OpenAI does; a refusal without one
    (Anthropic's safety classifiers stopping the answer) is what
    ``content_filter`` means."""
    if reason == "error":
        return "stop"  # Chat has no word for a failed turn
    if reason == "refusal" and not has_refusal:
        return "content_filter"
    finish = _STOP_TO_FINISH.get(reason, "stop")
    if has_tool_calls and finish == "stop":
        return "tool_calls"
    if finish == "tool_calls" and not has_tool_calls:
        return "stop"
    return finish


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = raw.get("completion_tokens_details")
    completion = completion if isinstance(completion, dict) else {}
    # DeepSeek reports cache hits at the top level instead of in the details.
    cache_read = _count(prompt.get("cached_tokens")) or _count(raw.get("prompt_cache_hit_tokens"))
    input_tokens = _count(raw.get("prompt_tokens"))
    reasoning = _count(completion.get("reasoning_tokens"))
    output = _count(raw.get("completion_tokens"))
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_with_reasoning(
            input_tokens, output, reasoning, raw.get("total_tokens")
        ),
        cache_read_tokens=cache_read,
        cache_creation_tokens=_count(prompt.get("cache_write_tokens")),
        reasoning_tokens=reasoning,
    )


def render_usage(usage: Usage) -> dict[str, Any]:
    """Canonical counts already follow OpenAI's arithmetic (cache writes are
    inside ``prompt_tokens``). ``cache_write_tokens`` is recent in OpenAI's
    schema (openai 3.52) and is said only when there were writes."""
    prompt: dict[str, int] = {"cached_tokens": usage.cache_read_tokens}
    if usage.cache_creation_tokens:
        prompt["cache_write_tokens"] = usage.cache_creation_tokens
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": prompt,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


_EXTENSION_TYPES: Final = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
}


def type_from_name(name: str | None, default: str) -> str:
    """A media type from a URL or file name's extension (no system tables:
    ``mimetypes`` reads files from disk)."""
    if not name:
        return default
    stem = name.split("?", 1)[0].split("#", 1)[0]
    _, dot, ext = stem.rpartition(".")
    return _EXTENSION_TYPES.get(ext.lower(), default) if dot else default


def media_from_url(url: str, path: str, *, default_type: str, **fields: Any) -> Media:
    """``data:<type>;base64,<data>`` -> inline Media; any other URL -> by reference."""
    if not url.startswith("data:"):
        return Media(media_type=type_from_name(url, default_type), url=url, **fields)
    header, comma, data = url[5:].partition(",")
    if not comma:
        raise TranslationError(path, "malformed data: URL (no comma)")
    media_type, _, params = header.partition(";")
    if params.split(";")[-1] != "base64":
        # Percent-encoded data URLs are legal but rare; keep them by reference.
        return Media(media_type=media_type or default_type, url=url, **fields)
    return Media(media_type=media_type or default_type, data=data, **fields)


def data_url(media: Media) -> str:
    return f"data:{media.media_type};base64,{media.data}"


def str_field(obj: dict[str, Any], key: str) -> str:
    """``obj[key]`` when it is a string, else "" (lenient reads of provider output)."""
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def text_of(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise TranslationError(path, f"expected a string, got {type(value).__name__}")
    return value


CUSTOM_TOOLS = "custom_tools"
"""Request meta flag: the client spoke chat with custom tools (kept native)."""
