"""A Chat Completions request body -> canonical Request."""

from __future__ import annotations

from typing import Any

from ..canonical import (
    Media,
    Message,
    Meta,
    Request,
    Text,
    ToolCall,
    ToolResult,
    TranslationError,
)
from .common import NAME
from .options import parse_options
from .parts import assistant_parts, content_parts, legacy_function_call


def parse_request(
    body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
) -> Request:
    if not isinstance(body, dict):
        raise TranslationError("", "request body must be a JSON object")
    name = model or body.get("model")
    if not isinstance(name, str) or not name:
        raise TranslationError("model", "required")
    request = Request(model=name)
    _MessagesParser(request).parse(body.get("messages"))
    parse_options(body, request)
    if stream is not None:
        request.stream = stream
    return request


class _MessagesParser:
    """Walks ``messages`` once, pairing tool results with the calls before them."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.calls: dict[str, ToolCall] = {}
        self.legacy: dict[str, list[str]] = {}  # function name -> unanswered call ids
        self.leading = True  # still in the run of system messages at the start
        self.tool_run: Message | None = None  # user message collecting tool results

    def parse(self, raw: Any) -> None:
        if not isinstance(raw, list):
            raise TranslationError("messages", "must be a list of messages")
        for i, message in enumerate(raw):
            path = f"messages[{i}]"
            if not isinstance(message, dict):
                raise TranslationError(path, "message must be an object")
            self._message(message, path, i)

    def _message(self, message: dict[str, Any], path: str, position: int) -> None:
        role = message.get("role")
        if role in ("system", "developer"):
            self._system(message, path, role)
            return
        self.leading = False
        if role in ("tool", "function"):
            self._tool_result(message, path, role)
            return
        self.tool_run = None
        if role == "user":
            parts = content_parts(message.get("content"), f"{path}.content")
            self.request.messages.append(Message("user", parts))
        elif role == "assistant":
            self._assistant(message, path, position)
        else:
            raise TranslationError(f"{path}.role", f"unsupported role {role!r}")

    def _system(self, message: dict[str, Any], path: str, role: str) -> None:
        texts: list[Text] = []
        for part in content_parts(message.get("content"), f"{path}.content"):
            if not isinstance(part, Text):
                raise TranslationError(f"{path}.content", f"{role} messages hold only text")
            texts.append(part)
        # o1-style models reject "system"; remember the client said "developer".
        meta: Meta = {NAME: {"role": "developer"}} if role == "developer" else {}
        if self.leading:
            for text in texts:
                text.meta.update(meta)
            self.request.system.extend(texts)
        else:
            self.tool_run = None
            self.request.messages.append(Message("system", list(texts), meta=dict(meta)))

    def _assistant(self, message: dict[str, Any], path: str, position: int) -> None:
        parts = assistant_parts(message, path, id_prefix=f"call_m{position}_")
        for part in parts:
            if isinstance(part, ToolCall):
                self.calls[part.id] = part
        legacy = parts[-1] if parts and legacy_function_call(message) is not None else None
        if isinstance(legacy, ToolCall):
            # A later role "function" message answers it by name only.
            self.legacy.setdefault(legacy.name, []).append(legacy.id)
        self.request.messages.append(Message("assistant", parts))

    def _tool_result(self, message: dict[str, Any], path: str, role: str) -> None:
        call_id = message.get("tool_call_id")
        if role == "function" and not isinstance(call_id, str):
            call_id = self._legacy_id(message, path)
        if not isinstance(call_id, str) or not call_id:
            raise TranslationError(f"{path}.tool_call_id", "required")
        content: list[Text | Media] = []
        for part in content_parts(message.get("content"), f"{path}.content"):
            if not isinstance(part, Text | Media):
                raise TranslationError(f"{path}.content", "tool messages hold only text")
            content.append(part)
        call = self.calls.get(call_id)
        result = ToolResult(
            call_id,
            content,
            name=call.name if call else _str(message.get("name")),
            kind=call.kind if call else "function",
        )
        if self.tool_run is None:
            self.tool_run = Message("user", [])
            self.request.messages.append(self.tool_run)
        self.tool_run.parts.append(result)

    def _legacy_id(self, message: dict[str, Any], path: str) -> str:
        name = message.get("name")
        pending = self.legacy.get(name) if isinstance(name, str) else None
        if not pending:
            raise TranslationError(
                f"{path}.role", "a 'function' message needs an earlier assistant function_call"
            )
        return pending.pop(0)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
