"""Responses request body -> canonical Request.

Input items are grouped into canonical turns: consecutive assistant-side items
(messages, reasoning, function calls) form one assistant message, consecutive
tool outputs one user message. Developer/system messages before the
conversation starts are the system prompt; later ones stay in place as
``system`` messages. Codex's "responses-lite" ``additional_tools`` item
carries tool definitions, which join ``Request.tools``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..canonical import (
    Message,
    Opaque,
    Part,
    Reasoning,
    Request,
    Text,
    ToolCall,
    ToolKind,
    ToolResult,
    TranslationError,
    unwrap_meta,
)
from .common import CARRIER_KEY, NAME, as_list, join_summary
from .content import parse_part, parse_tool_output
from .options import parse_options, parse_tools
from .web import parse_item as parse_web_item


def parse_request(
    body: dict[str, Any], *, model: str | None = None, stream: bool | None = None
) -> Request:
    if not isinstance(body, dict):
        raise TranslationError("", "request body must be a JSON object")
    name = body.get("model") or model
    if not isinstance(name, str) or not name:
        raise TranslationError("model", "a model name is required")
    request = Request(model=name)
    request.stream = bool(body.get("stream")) if stream is None else stream
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        request.system.append(Text(instructions))
    request.tools.extend(parse_tools(as_list(body.get("tools")), "tools"))
    _InputParser(request).parse(body.get("input"))
    parse_options(body, request)
    return request


RESPONSES_ONLY = frozenset(
    {
        # OpenAI's hosted tools and references to stored items
        "item_reference",
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "tool_search_call",
        "tool_search_output",
        # Codex: compaction and its local snapshots
        "compaction",
        "compaction_summary",
        "compaction_trigger",
        "ghost_snapshot",
    }
)
"""Documented input items with no meaning outside OpenAI: carried whole and
sent back only to a Responses target (other formats leave them out). An item
of any other type cannot be translated."""


class _InputParser:
    def __init__(self, request: Request) -> None:
        self.request = request
        self.messages = request.messages
        self.preamble = True  # still before the first conversation item
        self.call_names: dict[str, str] = {}
        self.carried: dict[str, dict[str, Any]] = {}
        self.handlers: dict[str, Callable[[dict[str, Any], str], None]] = {
            "message": self._message,
            "function_call": self._function_call,
            "custom_tool_call": self._custom_tool_call,
            "function_call_output": self._tool_output,
            "custom_tool_call_output": self._tool_output,
            "reasoning": self._reasoning,
            "additional_tools": self._additional_tools,
            "web_search_call": self._web_search_call,
        }

    def parse(self, raw: Any) -> None:
        if raw is None:
            return
        if isinstance(raw, str):
            self.messages.append(Message("user", [Text(raw)]))
            return
        if not isinstance(raw, list):
            raise TranslationError("input", "expected a string or a list of items")
        for i, item in enumerate(raw):
            path = f"input[{i}]"
            if not isinstance(item, dict):
                raise TranslationError(path, "expected an item object")
            kind = item.get("type") or ("message" if "role" in item else None)
            handler = self.handlers.get(kind) if isinstance(kind, str) else None
            if handler is not None:
                handler(item, path)
            else:
                self._opaque(item, None if kind in RESPONSES_ONLY else (path, str(kind)))
        self._attach_carried()

    # -------------------------------------------------------------- grouping

    def _assistant(self, part: Part) -> None:
        self.preamble = False
        last = self.messages[-1] if self.messages else None
        if last is None or last.role != "assistant":
            last = Message("assistant", [])
            self.messages.append(last)
        last.parts.append(part)

    def _user_parts(self, parts: list[Part], tool_result: bool) -> None:
        """Tool results gather in one user message; a user message right
        after tool results joins them (Anthropic wants them in one turn)."""
        self.preamble = False
        last = self.messages[-1] if self.messages else None
        joinable = (
            last is not None
            and last.role == "user"
            and bool(last.parts)
            and all(isinstance(p, ToolResult) for p in last.parts)
        )
        if last is not None and joinable:
            last.parts.extend(parts)
        elif tool_result or parts:
            self.messages.append(Message("user", parts))

    # ----------------------------------------------------------------- items

    def _message(self, item: dict[str, Any], path: str) -> None:
        role = item.get("role")
        content = item.get("content")
        if isinstance(content, str):
            parts: list[Part] = [Text(content)]
        elif isinstance(content, list):
            parts = [parse_part(p, f"{path}.content[{j}]") for j, p in enumerate(content)]
        elif content is None:
            parts = []
        else:
            raise TranslationError(f"{path}.content", "expected a string or a list of parts")
        if role == "assistant":
            for part in parts:
                self._assistant(part)
        elif role in ("system", "developer"):
            self._instruction(parts)
        elif role == "user":
            self._user_parts(parts, tool_result=False)
        else:
            raise TranslationError(f"{path}.role", f"unsupported role {role!r}")

    def _instruction(self, parts: list[Part]) -> None:
        if self.preamble:
            self.request.system.extend(p for p in parts if isinstance(p, Text))
        else:
            self.messages.append(Message("system", parts))

    def _call_id(self, item: dict[str, Any], path: str) -> str:
        call_id = item.get("call_id") or item.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise TranslationError(f"{path}.call_id", "a call_id is required")
        return call_id

    def _call_meta(self, item: dict[str, Any]) -> dict[str, dict[str, Any]]:
        own = {k: item[k] for k in ("id", "namespace") if isinstance(item.get(k), str)}
        return {NAME: own} if own else {}

    def _function_call(self, item: dict[str, Any], path: str) -> None:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError(f"{path}.name", "a function name is required")
        arguments = item.get("arguments")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        elif not isinstance(arguments, str):
            arguments = ""
        call_id = self._call_id(item, path)
        self.call_names[call_id] = name
        self._assistant(ToolCall(call_id, name, arguments, meta=self._call_meta(item)))

    def _custom_tool_call(self, item: dict[str, Any], path: str) -> None:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError(f"{path}.name", "a tool name is required")
        raw_input = item.get("input")
        call_id = self._call_id(item, path)
        self.call_names[call_id] = name
        call = ToolCall(
            call_id,
            name,
            raw_input if isinstance(raw_input, str) else "",
            kind="custom",
            meta=self._call_meta(item),
        )
        self._assistant(call)

    def _tool_output(self, item: dict[str, Any], path: str) -> None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise TranslationError(f"{path}.call_id", "a call_id is required")
        content, is_error = parse_tool_output(item.get("output"), f"{path}.output")
        kind: ToolKind = "custom" if item.get("type") == "custom_tool_call_output" else "function"
        result = ToolResult(
            call_id, content, is_error=is_error, name=self.call_names.get(call_id), kind=kind
        )
        self._user_parts([result], tool_result=True)

    def _reasoning(self, item: dict[str, Any], path: str) -> None:
        summary = as_list(item.get("summary"))
        content = as_list(item.get("content"))
        text = join_summary(summary) or join_summary(content)
        encrypted = item.get("encrypted_content")
        carried = unwrap_meta(encrypted) if isinstance(encrypted, str) else None
        if carried is not None:
            target = carried.get(NAME, {}).get(CARRIER_KEY)
            if isinstance(target, str):
                self.carried[target] = {k: v for k, v in carried.items() if k != NAME}
            else:
                self._assistant(Reasoning(text, meta=carried))
            return
        own: dict[str, Any] = {"summary": summary}
        if isinstance(item.get("id"), str):
            own["id"] = item["id"]
        if isinstance(encrypted, str) and encrypted:
            own["encrypted_content"] = encrypted
        if content:
            own["content"] = content
        self._assistant(Reasoning(text, meta={NAME: own}))

    def _web_search_call(self, item: dict[str, Any], path: str) -> None:
        for part in parse_web_item(item):
            self._assistant(part)

    def _additional_tools(self, item: dict[str, Any], path: str) -> None:
        known = {tool.name for tool in self.request.tools}
        for tool in parse_tools(as_list(item.get("tools")), f"{path}.tools"):
            if tool.name not in known:
                known.add(tool.name)
                self.request.tools.append(tool)

    def _opaque(self, item: dict[str, Any], unknown: tuple[str, str] | None) -> None:
        part = Opaque(NAME, dict(item), unknown=unknown)
        kind = str(item.get("type") or "")
        if kind.endswith("_output"):
            self._user_parts([part], tool_result=False)
        else:
            self._assistant(part)

    def _attach_carried(self) -> None:
        if not self.carried:
            return
        for message in self.messages:
            for part in message.parts:
                if isinstance(part, ToolCall) and part.id in self.carried:
                    part.meta.update(self.carried[part.id])
