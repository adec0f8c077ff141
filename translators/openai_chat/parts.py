"""Chat message pieces -> canonical parts (shared by requests and responses)."""

from __future__ import annotations

import json
from typing import Any

from ..canonical import (
    Media,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Text,
    ToolCall,
    TranslationError,
)
from .common import NAME, REASONING_FIELDS, media_from_url, str_field, text_of, type_from_name

_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}


def content_parts(content: Any, path: str, *, strict: bool = True) -> list[Part]:
    """A ``content`` value (string, list of parts or null) -> parts. With
    ``strict=False`` (provider output) unknown part types are skipped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)] if content else []
    if not isinstance(content, list):
        raise TranslationError(path, "content must be a string or a list of parts")
    parts: list[Part] = []
    for i, raw in enumerate(content):
        part_path = f"{path}[{i}]"
        if not isinstance(raw, dict):
            raise TranslationError(part_path, "content part must be an object")
        part = _content_part(raw, part_path, strict)
        if part is not None:
            parts.append(part)
    return parts


def _content_part(raw: dict[str, Any], path: str, strict: bool) -> Part | None:
    kind = raw.get("type")
    if kind == "text":
        cache = raw.get("cache_control")  # OpenRouter passes Anthropic's marker here
        return Text(
            text_of(raw.get("text"), f"{path}.text"), cache if isinstance(cache, dict) else None
        )
    if kind == "image_url":
        return _image(raw.get("image_url"), f"{path}.image_url")
    if kind == "input_audio":
        return _audio(raw.get("input_audio"), f"{path}.input_audio")
    if kind == "file":
        return _file(raw, f"{path}.file")
    if kind == "refusal":
        return Refusal(text_of(raw.get("refusal"), f"{path}.refusal"))
    if strict:
        raise TranslationError(f"{path}.type", f"unsupported content type {kind!r}")
    return None


def _image(value: Any, path: str) -> Media:
    if isinstance(value, str):  # some clients send the URL bare
        return media_from_url(value, path, default_type="image/jpeg")
    if not isinstance(value, dict):
        raise TranslationError(path, "must be an object with a url")
    url = text_of(value.get("url"), f"{path}.url")
    detail = value.get("detail")
    return media_from_url(
        url,
        f"{path}.url",
        default_type="image/jpeg",
        detail=detail if isinstance(detail, str) else None,
    )


def _audio(value: Any, path: str) -> Media:
    if not isinstance(value, dict):
        raise TranslationError(path, "must be an object with data and format")
    fmt = text_of(value.get("format"), f"{path}.format")
    data = text_of(value.get("data"), f"{path}.data")
    return Media(media_type=_AUDIO_TYPES.get(fmt, f"audio/{fmt}"), data=data)


def _file(raw: dict[str, Any], path: str) -> Part:
    value = raw.get("file")
    if not isinstance(value, dict):
        raise TranslationError(path, "must be an object")
    filename = value.get("filename") if isinstance(value.get("filename"), str) else None
    file_data = value.get("file_data")
    if isinstance(file_data, str) and file_data:
        default = type_from_name(filename, "application/pdf")
        if file_data.startswith("data:"):
            return media_from_url(
                file_data, f"{path}.file_data", default_type=default, filename=filename
            )
        return Media(media_type=default, data=file_data, filename=filename)
    if isinstance(value.get("file_id"), str):
        # An uploaded OpenAI file means nothing to another provider.
        return Opaque(format=NAME, data=dict(raw))
    raise TranslationError(path, "needs file_data or file_id")


def assistant_parts(
    message: dict[str, Any], path: str, *, id_prefix: str = "call_", strict: bool = True
) -> list[Part]:
    """An assistant message (request history or response) -> parts, in the
    order the model produced them: reasoning, text, refusal, tool calls.
    Calls without an id get ``<id_prefix><n>`` (the legacy ``function_call``
    never has one: ``<id_prefix>fn``)."""
    parts: list[Part] = []
    reasoning = _reasoning(message)
    if reasoning is not None:
        parts.append(reasoning)
    parts.extend(content_parts(message.get("content"), f"{path}.content", strict=strict))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(Refusal(refusal))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for i, raw in enumerate(calls):
            parts.append(tool_call(raw, f"{path}.tool_calls[{i}]", f"{id_prefix}{i}"))
    legacy = legacy_function_call(message)
    if legacy is not None:
        legacy_call = {"type": "function", "function": legacy}
        parts.append(tool_call(legacy_call, f"{path}.function_call", f"{id_prefix}fn"))
    return parts


def legacy_function_call(message: dict[str, Any]) -> dict[str, Any] | None:
    """The legacy ``function_call`` of a message, or None when there is none.
    One without a name (``{"name": "", "arguments": ""}``, which some
    gateways send beside real ``tool_calls``) is no call: nothing could
    answer it, and a nameless call fails the next request everywhere."""
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and legacy.get("name"):
        return legacy
    return None


def _reasoning(message: dict[str, Any]) -> Reasoning | None:
    for field in REASONING_FIELDS:
        text = message.get(field)
        if isinstance(text, str) and text:
            return Reasoning(text, meta={NAME: reasoning_meta(field)})
    return None


def reasoning_meta(field: str) -> dict[str, Any]:
    """Our meta on a Reasoning part: it is ours to send back, under the field
    the provider used (absent means ``reasoning_content``)."""
    return {} if field == "reasoning_content" else {"field": field}


def tool_call(raw: Any, path: str, fallback_id: str) -> ToolCall:
    """One ``tool_calls`` entry. ``fallback_id`` stands in for a missing id
    (then the caller decides what the id must be)."""
    if not isinstance(raw, dict):
        raise TranslationError(path, "tool call must be an object")
    kind = raw.get("type") or "function"
    call_id = str_field(raw, "id") or fallback_id
    if kind == "custom":
        body = raw.get("custom")
        if not isinstance(body, dict):
            raise TranslationError(f"{path}.custom", "must be an object")
        name = text_of(body.get("name"), f"{path}.custom.name")
        data = body.get("input")
        return ToolCall(call_id, name, data if isinstance(data, str) else "", kind="custom")
    if kind != "function":
        raise TranslationError(f"{path}.type", f"unsupported tool call type {kind!r}")
    body = raw.get("function")
    if not isinstance(body, dict):
        raise TranslationError(f"{path}.function", "must be an object")
    name = text_of(body.get("name"), f"{path}.function.name")
    arguments = body.get("arguments")
    if isinstance(arguments, dict | list):  # a few providers send parsed JSON
        arguments = json.dumps(arguments, ensure_ascii=False)
    return ToolCall(call_id, name, arguments if isinstance(arguments, str) else "")
