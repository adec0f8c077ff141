"""Responses request body -> canonical Request.

Input items are grouped into canonical turns: consecutive assistant-side items
(messages, reasoning, function calls) form one assistant message, consecutive
tool outputs one user message. Developer/system messages before the
conversation starts are the system prompt; later ones stay in place as
``system`` messages. Codex's "responses-lite" ``additional_tools`` item
carries tool definitions, which join ``Request.tools``.

Each input item is parsed on its own (:func:`parse_item`: what depends on
the item and its index only, remembered between requests by the engine's
memo) and the items are then assembled per request (:class:`_Assembly`:
grouping, a tool output's name from its call, carried metadata onto its
call, the preamble).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..canonical import (
    Message,
    Opaque,
    Part,
    Reasoning,
    Request,
    Text,
    Tool,
    ToolCall,
    ToolKind,
    ToolResult,
    TranslationError,
    unwrap_meta,
)
from ..copies import Copies
from .common import CARRIER_KEY, NAME, as_list, join_summary
from .content import parse_part, parse_tool_output
from .options import parse_options, parse_tools
from .web import parse_item as parse_web_item


def parse_request(
    body: dict[str, Any],
    *,
    model: str | None = None,
    stream: bool | None = None,
    items: Iterable[Item] | None = None,
) -> Request:
    """``items``: ``body["input"]`` (a list) already parsed one by one
    (produced as they are reached, so that errors come in the same order),
    the member itself then absent from ``body``."""
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
    # remembered items (engine.translate.memo): the same copies each turn
    copies = _NAMED if items is not None else None
    if items is None:
        items = _items(body.get("input"), request)
    _Assembly(request, copies).add(items)
    parse_options(body, request)
    return request


def _items(raw: Any, request: Request) -> Iterable[Item]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        request.messages.append(Message("user", [Text(raw)]))
        return ()
    if not isinstance(raw, list):
        raise TranslationError("input", "expected a string or a list of items")
    return (parse_item(item, i) for i, item in enumerate(raw))


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


# ------------------------------------------------------------------ one item

Action = Literal["assistant", "call", "user", "result", "instruction", "carrier", "tools"]


@dataclass(frozen=True, slots=True)
class Item:
    """One input item parsed on its own: what no other item changes. Its
    parts are shared by every request that sends these bytes at this index
    (see :func:`parse_item`): never changed in place, copied where another
    item changes them (a tool output's name, a call's carried metadata).

    ``action`` says how the request takes it: ``assistant`` parts join the
    assistant turn, a ``call`` too and names its call id; ``user`` parts (a
    ``result``: one tool output) join the user turn; ``instruction`` parts
    are system text; a ``carrier`` holds ``meta`` for the call ``target``;
    ``tools`` join the request's."""

    action: Action
    parts: tuple[Part, ...] = ()
    target: str = ""
    meta: dict[str, Any] | None = None
    tools: tuple[Tool, ...] = ()


def parse_item(raw: Any, i: int) -> Item:
    """``input[i]`` on its own, as :func:`parse_request` reads it (the same
    errors, in the same order)."""
    path = f"input[{i}]"
    if not isinstance(raw, dict):
        raise TranslationError(path, "expected an item object")
    kind = raw.get("type") or ("message" if "role" in raw else None)
    parse = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is not None:
        return parse(raw, path)
    return _opaque(raw, None if kind in RESPONSES_ONLY else (path, str(kind)))


def _message(item: dict[str, Any], path: str) -> Item:
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
        return Item("assistant", tuple(parts))
    if role in ("system", "developer"):
        return Item("instruction", tuple(parts))
    if role == "user":
        return Item("user", tuple(parts))
    raise TranslationError(f"{path}.role", f"unsupported role {role!r}")


def _call_id(item: dict[str, Any], path: str) -> str:
    call_id = item.get("call_id") or item.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{path}.call_id", "a call_id is required")
    return call_id


def _call_meta(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    own = {k: item[k] for k in ("id", "namespace") if isinstance(item.get(k), str)}
    return {NAME: own} if own else {}


def _function_call(item: dict[str, Any], path: str) -> Item:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{path}.name", "a function name is required")
    arguments = item.get("arguments")
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments, ensure_ascii=False)
    elif not isinstance(arguments, str):
        arguments = ""
    call_id = _call_id(item, path)
    return Item("call", (ToolCall(call_id, name, arguments, meta=_call_meta(item)),))


def _custom_tool_call(item: dict[str, Any], path: str) -> Item:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{path}.name", "a tool name is required")
    raw_input = item.get("input")
    call_id = _call_id(item, path)
    call = ToolCall(
        call_id,
        name,
        raw_input if isinstance(raw_input, str) else "",
        kind="custom",
        meta=_call_meta(item),
    )
    return Item("call", (call,))


def _tool_output(item: dict[str, Any], path: str) -> Item:
    """A tool output, its name left to the request (see :meth:`_Assembly.result`)."""
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{path}.call_id", "a call_id is required")
    content, is_error = parse_tool_output(item.get("output"), f"{path}.output")
    kind: ToolKind = "custom" if item.get("type") == "custom_tool_call_output" else "function"
    return Item("result", (ToolResult(call_id, content, is_error=is_error, kind=kind),))


def _reasoning(item: dict[str, Any], path: str) -> Item:
    summary = as_list(item.get("summary"))
    content = as_list(item.get("content"))
    text = join_summary(summary) or join_summary(content)
    encrypted = item.get("encrypted_content")
    carried = unwrap_meta(encrypted) if isinstance(encrypted, str) else None
    if carried is not None:
        target = carried.get(NAME, {}).get(CARRIER_KEY)
        if isinstance(target, str):
            meta = {k: v for k, v in carried.items() if k != NAME}
            return Item("carrier", target=target, meta=meta)
        return Item("assistant", (Reasoning(text, meta=carried),))
    own: dict[str, Any] = {"summary": summary}
    if isinstance(item.get("id"), str):
        own["id"] = item["id"]
    if isinstance(encrypted, str) and encrypted:
        own["encrypted_content"] = encrypted
    if content:
        own["content"] = content
    return Item("assistant", (Reasoning(text, meta={NAME: own}),))


def _web_search_call(item: dict[str, Any], path: str) -> Item:
    return Item("assistant", tuple(parse_web_item(item)))


def _additional_tools(item: dict[str, Any], path: str) -> Item:
    return Item("tools", tools=tuple(parse_tools(as_list(item.get("tools")), f"{path}.tools")))


def _opaque(item: dict[str, Any], unknown: tuple[str, str] | None) -> Item:
    part = Opaque(NAME, dict(item), unknown=unknown)
    kind = str(item.get("type") or "")
    return Item("user" if kind.endswith("_output") else "assistant", (part,))


_PARSERS: dict[str, Callable[[dict[str, Any], str], Item]] = {
    "message": _message,
    "function_call": _function_call,
    "custom_tool_call": _custom_tool_call,
    "function_call_output": _tool_output,
    "custom_tool_call_output": _tool_output,
    "reasoning": _reasoning,
    "additional_tools": _additional_tools,
    "web_search_call": _web_search_call,
}


# ---------------------------------------------------------------- the request


class _Assembly:
    """The items of one request into its messages, system text and tools:
    new lists and messages, an item's parts copied where they change."""

    def __init__(self, request: Request, copies: Copies | None = None) -> None:
        self.request = request
        self.copies = copies
        self.messages = request.messages
        self.preamble = True  # still before the first conversation item
        self.call_names: dict[str, str] = {}
        self.carried: dict[str, dict[str, Any]] = {}

    def add(self, items: Iterable[Item]) -> None:
        for item in items:
            action = item.action
            if action == "assistant" or action == "call":
                for part in item.parts:
                    if action == "call" and isinstance(part, ToolCall):
                        self.call_names[part.id] = part.name
                    self._assistant(part)
            elif action == "user":
                self._user_parts(list(item.parts), tool_result=False)
            elif action == "result":
                self._user_parts([self._named(p) for p in item.parts], tool_result=True)
            elif action == "instruction":
                self._instruction(list(item.parts))
            elif action == "carrier":
                self.carried[item.target] = item.meta or {}
            else:
                self._tools(item.tools)
        self._attach_carried()

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

    def _named(self, part: Part) -> Part:
        """A tool output named after its call (Gemini needs the name): a copy
        (built directly: ``dataclasses.replace`` costs 6 times as much, and
        a long session resends hundreds of outputs)."""
        if isinstance(part, ToolResult):
            name = self.call_names.get(part.call_id)
            if name is not None:
                if self.copies is None:
                    return _with_name(part, name)
                known = self.copies.known(part, name)
                if known is not None:
                    return known
                return self.copies.get(part, name, lambda: _with_name(part, name))
        return part

    def _instruction(self, parts: list[Part]) -> None:
        if self.preamble:
            self.request.system.extend(p for p in parts if isinstance(p, Text))
        else:
            self.messages.append(Message("system", parts))

    def _tools(self, tools: Iterable[Tool]) -> None:
        known = {tool.name for tool in self.request.tools}
        for tool in tools:
            if tool.name not in known:
                known.add(tool.name)
                self.request.tools.append(tool)

    def _attach_carried(self) -> None:
        if not self.carried:
            return
        for message in self.messages:
            for i, part in enumerate(message.parts):
                if isinstance(part, ToolCall) and part.id in self.carried:
                    # a copy: the part may be shared (a remembered item's, never changed)
                    carried = self.carried[part.id]
                    meta = {**part.meta, **carried}
                    message.parts[i] = _CARRIED.with_meta(part, meta)


_CARRIED = Copies()
"""Calls with their carried metadata: the same copy each turn."""
_NAMED = Copies()
"""Named tool outputs: the same copy each turn for a remembered output."""


def _with_name(part: ToolResult, name: str) -> ToolResult:
    return ToolResult(
        part.call_id,
        part.content,
        is_error=part.is_error,
        name=name,
        kind=part.kind,
        cache_control=part.cache_control,
        meta=part.meta,
    )
