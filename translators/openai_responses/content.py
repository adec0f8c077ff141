"""Responses content parts (message content, tool outputs) <-> canonical parts."""

from __future__ import annotations

from typing import Any

from ..canonical import (
    Media,
    Opaque,
    Part,
    Refusal,
    Text,
    ToolResult,
    TranslationError,
    error_in_words,
)
from .common import NAME, as_dict, data_url, guess_type, own_meta, parse_data_url

_TEXT_TYPES = ("input_text", "output_text", "text", "summary_text", "reasoning_text")


def parse_part(part: Any, path: str) -> Part:
    """One content part of a message item."""
    if isinstance(part, str):
        return Text(part)
    if not isinstance(part, dict):
        raise TranslationError(path, "expected a content part object")
    kind = part.get("type")
    if kind in _TEXT_TYPES:
        return Text(_string(part.get("text"), f"{path}.text"))
    if kind == "refusal":
        return Refusal(_string(part.get("refusal"), f"{path}.refusal"))
    if kind in ("input_image", "input_file"):
        if part.get("file_id"):
            # An uploaded file only OpenAI can resolve: other formats drop it.
            return Opaque(NAME, dict(part))
        return _image(part, path) if kind == "input_image" else _file(part, path)
    raise TranslationError(f"{path}.type", f"unsupported content type {kind!r}")


def parse_output_part(part: Any, path: str) -> Text | Media:
    """One part of a tool output list (text, image or file)."""
    parsed = parse_part(part, path)
    if isinstance(parsed, Text | Media):
        return parsed
    if isinstance(parsed, Refusal):
        return Text(parsed.text)
    # An uploaded file in a tool output: keep its id for OpenAI.
    raw = as_dict(part)
    media_type = "image/png" if raw.get("type") == "input_image" else "application/pdf"
    return Media(media_type, filename=raw.get("filename"), meta={NAME: {"file_id": raw["file_id"]}})


def _string(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TranslationError(path, "expected a string")
    return value


def _image(part: dict[str, Any], path: str) -> Media:
    url = part.get("image_url")
    if isinstance(url, dict):  # the Chat shape {"url": ...}, sent by some clients
        url = url.get("url")
    if not isinstance(url, str) or not url:
        raise TranslationError(f"{path}.image_url", "expected an image URL or data URL")
    detail = part.get("detail")
    detail = detail if isinstance(detail, str) and detail != "auto" else None
    inline = parse_data_url(url)
    if inline is not None:
        return Media(inline[0], data=inline[1], detail=detail)
    return Media(guess_type(url, "image/jpeg"), url=url, detail=detail)


def _file(part: dict[str, Any], path: str) -> Media:
    filename = part.get("filename") if isinstance(part.get("filename"), str) else None
    default = guess_type(filename or "", "application/pdf")
    file_data = part.get("file_data")
    if isinstance(file_data, str) and file_data:
        inline = parse_data_url(file_data)
        if inline is not None:
            return Media(inline[0], data=inline[1], filename=filename)
        return Media(default, data=file_data, filename=filename)
    url = part.get("file_url")
    if isinstance(url, str) and url:
        return Media(guess_type(url, default), url=url, filename=filename)
    raise TranslationError(path, "input_file needs file_data, file_url or file_id")


def parse_tool_output(output: Any, path: str) -> tuple[list[Text | Media], bool]:
    """A function/custom tool output -> (content, is_error)."""
    if output is None:
        return [], False
    if isinstance(output, str):
        return ([Text(output)] if output else []), False
    if isinstance(output, list):
        return [parse_output_part(p, f"{path}[{i}]") for i, p in enumerate(output)], False
    if isinstance(output, dict) and "content" in output:
        # Older Codex sent failures as {"content": ..., "success": false}.
        content, _ = parse_tool_output(output.get("content"), f"{path}.content")
        return content, output.get("success") is False
    raise TranslationError(path, "expected a string or a list of content parts")


# -------------------------------------------------------------------------- render


def render_media(media: Media) -> dict[str, Any] | None:
    """An input_image / input_file part, or None when there is nothing to send."""
    file_id = own_meta(media.meta).get("file_id")
    if media.is_image:
        part: dict[str, Any] = {"type": "input_image", "detail": media.detail or "auto"}
        if file_id:
            part["file_id"] = file_id
        elif media.url or media.data:
            part["image_url"] = media.url or data_url(media)
        else:
            return None
        return part
    part = {"type": "input_file"}
    if file_id:
        part["file_id"] = file_id
    elif media.data:
        part["file_data"] = data_url(media)
        part["filename"] = media.filename or _default_filename(media.media_type)
    elif media.url:
        part["file_url"] = media.url
    else:
        return None
    return part


def _default_filename(media_type: str) -> str:
    subtype = media_type.rpartition("/")[2] or "bin"
    return f"document.{subtype}"


def render_tool_output(result: ToolResult) -> str | list[dict[str, Any]]:
    """A tool output: a plain string when it is one text, else a part list
    (images in tool results stay images). A failure is said in words: the
    format has no error flag."""
    content = error_in_words(result)
    if not content:
        return ""
    if len(content) == 1 and isinstance(content[0], Text):
        return content[0].text
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, Text):
            parts.append({"type": "input_text", "text": part.text})
        else:
            rendered = render_media(part)
            if rendered is not None:
                parts.append(rendered)
    return parts
