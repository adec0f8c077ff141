"""Anthropic Messages request body -> canonical Request.

Fields without canonical meaning (``context_management``, ``container``,
``service_tier``, beta-only knobs, ``metadata`` other than ``user_id``) are
ignored. Two client-side facts are kept in ``request.meta["anthropic"]`` so
that an Anthropic-to-Anthropic translation sends them back unchanged:
``effort`` (the client sent ``output_config.effort`` itself) and
``thinking_display``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, cast

from ..canonical import (
    Effort,
    Message,
    Part,
    ReasoningConfig,
    Request,
    ResponseFormat,
    Role,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    TranslationError,
)
from ..copies import Copies
from .blocks import attach_carriers, carrier_target, parse_content
from .common import NAME
from .web import parse_tool as parse_web_tool

_ROLES: tuple[Role, ...] = ("user", "assistant", "system")
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_CHOICES = {"auto": "auto", "any": "required", "tool": "tool", "none": "none"}


@dataclass(frozen=True, slots=True)
class Item:
    """One message parsed on its own: what no other message changes. Its
    parts are shared by every request that sends these bytes at this index
    (see :func:`parse_item`): never changed in place, copied where another
    message changes them (a tool result's name)."""

    role: Role
    parts: tuple[Part, ...]
    calls: tuple[tuple[str, str], ...] = ()
    """Its tool calls' ids and names, in order (what later results are named after)."""
    unnamed: tuple[int, ...] = ()
    """Where its tool results without a name are (named from the calls before)."""
    ordered: bool = True
    """No result before a call in it (else :func:`_assemble` walks it part by part)."""
    carriers: bool = False
    """Whether a part carries metadata for a call (:func:`blocks.attach_carriers`)."""


def _item(role: Role, parts: tuple[Part, ...]) -> Item:
    """An item with what the assembly needs of its parts found once."""
    calls = tuple((p.id, p.name) for p in parts if isinstance(p, ToolCall))
    unnamed = tuple(j for j, p in enumerate(parts) if isinstance(p, ToolResult) and p.name is None)
    last_call = max((j for j, p in enumerate(parts) if isinstance(p, ToolCall)), default=-1)
    ordered = not unnamed or unnamed[0] > last_call
    carriers = any(carrier_target(p) is not None for p in parts)
    return Item(role, parts, calls, unnamed, ordered, carriers)


def parse_item(raw: Any, i: int) -> Item:
    """``messages[i]`` on its own, as :func:`parse_request` reads it (the same
    errors, in the same order)."""
    path = f"messages[{i}]"
    if not isinstance(raw, dict):
        raise TranslationError(path, "a message must be an object")
    role = raw.get("role")
    if role not in _ROLES:
        raise TranslationError(f"{path}.role", f"unsupported role {role!r}")
    parts = parse_content(raw.get("content"), f"{path}.content")
    return _item(cast(Role, role), tuple(parts))


def parse_request(
    body: dict[str, Any],
    *,
    model: str | None = None,
    stream: bool | None = None,
    items: Iterable[Item] | None = None,
) -> Request:
    """``items``: ``body["messages"]`` already parsed one by one (produced as
    they are reached, so that errors come in the same order), the member
    itself then absent from ``body``."""
    if not isinstance(body, dict):
        raise TranslationError("", "the request body must be a JSON object")
    name = model if model is not None else body.get("model")
    if not isinstance(name, str) or not name:
        raise TranslationError("model", "model must be a non-empty string")
    request = Request(
        model=name,
        messages=_messages(body.get("messages")) if items is None else _assemble(items, _named),
        system=_system(body.get("system")),
        tools=_tools(body.get("tools")),
        stream=bool(body.get("stream")) if stream is None else stream,
        stop=_stop_sequences(body.get("stop_sequences")),
    )
    _sampling(body, request)
    _tool_choice(body.get("tool_choice"), request)
    request.reasoning = _reasoning(body, request)
    request.response_format = _response_format(body)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        request.user = metadata["user_id"]
    return request


def _messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list):
        raise TranslationError("messages", "messages must be a list")
    return _assemble(parse_item(m, i) for i, m in enumerate(raw))


def replace_name(part: ToolResult, name: str) -> ToolResult:
    return replace(part, name=name)


def _named(part: ToolResult, name: str) -> ToolResult:
    """``part`` with the name of the call it answers, for remembered
    messages (``parse_request(items=...)``, engine.translate.memo): the same
    copy for the same part and name, as they get their names again every
    turn (parts are never changed in place once made)."""
    known = _NAMED.known(part, name)
    return known if known is not None else _NAMED.get(part, name, lambda: replace(part, name=name))


_NAMED = Copies()


def _assemble(
    items: Iterable[Item], named: Callable[[ToolResult, str], ToolResult] = replace_name
) -> list[Message]:
    """The messages of ``items``, with what one message gives another
    (``named``: a tool result with its call's name)."""
    messages: list[Message] = []
    names: dict[str, str] = {}
    carriers = False
    for item in items:
        parts = list(item.parts)
        if item.ordered:
            names.update(item.calls)
            for j in item.unnamed:
                # Anthropic tool results carry no name; Gemini needs one, so
                # it is looked up from the call it answers.
                part: ToolResult = parts[j]  # type: ignore[assignment]
                name = names.get(part.call_id)
                if name is not None:
                    parts[j] = named(part, name)
        else:
            _name_in_order(parts, names, named)
        carriers = carriers or item.carriers
        messages.append(Message(item.role, parts))
    if carriers:
        attach_carriers(messages)
    return messages


def _name_in_order(
    parts: list[Part], names: dict[str, str], named: Callable[[ToolResult, str], ToolResult]
) -> None:
    """:func:`_assemble` for a message with a result before a call."""
    for j, part in enumerate(parts):
        if isinstance(part, ToolCall):
            names[part.id] = part.name
        elif isinstance(part, ToolResult) and part.name is None:
            name = names.get(part.call_id)
            if name is not None:
                parts[j] = named(part, name)


def _system(raw: Any) -> list[Text]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [Text(raw)] if raw else []
    if not isinstance(raw, list):
        raise TranslationError("system", "system must be a string or a list of text blocks")
    texts: list[Text] = []
    for i, block in enumerate(raw):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise TranslationError(f"system[{i}].type", "system blocks must be text blocks")
        if not isinstance(block.get("text"), str):
            raise TranslationError(f"system[{i}].text", "text must be a string")
        texts.append(Text(block["text"], cache_control=block.get("cache_control")))
    return texts


def _tools(raw: Any) -> list[Tool]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TranslationError("tools", "tools must be a list")
    return [_tool(item, f"tools[{i}]") for i, item in enumerate(raw)]


def _tool(raw: Any, path: str) -> Tool:
    if not isinstance(raw, dict):
        raise TranslationError(path, "a tool must be an object")
    kind = raw.get("type")
    web = parse_web_tool(raw)
    if web is not None:
        return web
    if kind not in (None, "custom"):
        # Server tools (web_search_20250305, bash_20250124, ...) are versioned
        # Anthropic features: carried whole, rendered only back to Anthropic.
        name = raw.get("name")
        return Tool(name if isinstance(name, str) else str(kind), kind="builtin", meta={NAME: raw})
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{path}.name", "a tool needs a name")
    schema = raw.get("input_schema")
    if schema is not None and not isinstance(schema, dict):
        raise TranslationError(f"{path}.input_schema", "input_schema must be an object")
    description = raw.get("description")
    strict = raw.get("strict")
    return Tool(
        name,
        description if isinstance(description, str) else None,
        schema,
        strict=strict if isinstance(strict, bool) else None,
        cache_control=raw.get("cache_control"),
    )


def _stop_sequences(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise TranslationError("stop_sequences", "stop_sequences must be a list of strings")
    return list(raw)


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(key, f"{key} must be a number")
    return value


def _sampling(body: dict[str, Any], request: Request) -> None:
    request.temperature = _number(body, "temperature")
    request.top_p = _number(body, "top_p")
    for key in ("max_tokens", "top_k"):
        value = _number(body, key)
        if value is not None and value != int(value):
            raise TranslationError(key, f"{key} must be an integer")
        setattr(request, key, None if value is None else int(value))


def _tool_choice(raw: Any, request: Request) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict) or raw.get("type") not in _CHOICES:
        raise TranslationError("tool_choice.type", "tool_choice must be auto, any, tool or none")
    mode = _CHOICES[raw["type"]]
    name = raw.get("name") if mode == "tool" else None
    if mode == "tool" and not isinstance(name, str):
        raise TranslationError("tool_choice.name", "tool_choice of type tool needs a name")
    request.tool_choice = ToolChoice(mode, name)  # type: ignore[arg-type]
    if raw.get("disable_parallel_tool_use") is True:
        request.parallel_tool_calls = False


def _reasoning(body: dict[str, Any], request: Request) -> ReasoningConfig | None:
    thinking = body.get("thinking")
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if effort is not None and effort not in _EFFORTS:
        raise TranslationError("output_config.effort", f"unsupported effort {effort!r}")
    if thinking is None:
        if effort is None:
            return None
        request.meta[NAME] = {"effort": effort, "no_thinking": True}
        return ReasoningConfig(effort=cast(Effort, effort))
    if not isinstance(thinking, dict):
        raise TranslationError("thinking", "thinking must be an object")
    config = _thinking_config(thinking)
    if effort is not None:
        config.effort = cast(Effort, effort)
        request.meta.setdefault(NAME, {})["effort"] = effort
    display = thinking.get("display")
    if display in ("summarized", "omitted"):
        config.include_thoughts = display == "summarized"
        request.meta.setdefault(NAME, {})["thinking_display"] = display
    return config


def _thinking_config(thinking: dict[str, Any]) -> ReasoningConfig:
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)):
            raise TranslationError("thinking.budget_tokens", "budget_tokens must be an integer")
        return ReasoningConfig(enabled=True, budget_tokens=budget)
    if kind == "adaptive":
        return ReasoningConfig(enabled=True, adaptive=True)
    if kind == "disabled":
        return ReasoningConfig(enabled=False)
    # Newer variants (e.g. thinking only between tool calls): still thinking.
    if isinstance(kind, str):
        return ReasoningConfig(enabled=True)
    raise TranslationError("thinking.type", "thinking needs a type")


def _response_format(body: dict[str, Any]) -> ResponseFormat | None:
    output_config = body.get("output_config")
    raw = output_config.get("format") if isinstance(output_config, dict) else None
    if raw is None:
        raw = body.get("output_format")  # the beta-era spelling
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") != "json_schema":
        raise TranslationError("output_config.format", "format must be a json_schema object")
    schema = raw.get("schema")
    if not isinstance(schema, dict):
        raise TranslationError("output_config.format.schema", "schema must be an object")
    return ResponseFormat("json_schema", schema=schema)
