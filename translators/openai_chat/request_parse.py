"""A Chat Completions request body -> canonical Request.

Each message is parsed on its own (:func:`parse_item`: what depends on the
message and its index only, remembered between requests by the engine's
memo) and the messages are then assembled per request (:class:`_Assembly`):
the run of system/developer messages at the start is the system prompt, a
tool result takes the name and kind of the call it answers, a legacy
``function`` message the id of the earlier ``function_call`` of its name,
and consecutive tool results gather in one user message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..canonical import (
    Media,
    Message,
    Meta,
    Part,
    Request,
    Text,
    ToolCall,
    ToolKind,
    ToolResult,
    TranslationError,
)
from ..copies import Copies
from .common import NAME
from .options import parse_options
from .parts import assistant_parts, content_parts, legacy_function_call


def parse_request(
    body: dict[str, Any],
    *,
    model: str | None = None,
    stream: bool | None = None,
    items: Iterable[Item] | None = None,
) -> Request:
    """``items``: ``body["messages"]`` (a list) already parsed one by one
    (produced as they are reached, so that errors come in the same order),
    the member itself then absent from ``body``."""
    if not isinstance(body, dict):
        raise TranslationError("", "request body must be a JSON object")
    name = model or body.get("model")
    if not isinstance(name, str) or not name:
        raise TranslationError("model", "required")
    request = Request(model=name)
    if items is None:
        _Assembly(request, _named).add(_items(body.get("messages")))
    else:  # remembered items (engine.translate.memo): the same copies each turn
        _Assembly(request, _remembered_named).add(items)
    parse_options(body, request)
    if stream is not None:
        request.stream = stream
    return request


def _items(raw: Any) -> Iterable[Item]:
    if not isinstance(raw, list):
        raise TranslationError("messages", "must be a list of messages")
    return (parse_item(message, i) for i, message in enumerate(raw))


# ------------------------------------------------------------------ one message

Kind = Literal["system", "user", "assistant", "result"]


@dataclass(slots=True)  # (not frozen: a frozen one costs a fifth of a whole parse to make)
class Item:
    """One message parsed on its own: what no other message changes. It and
    its parts are shared by every request that sends these bytes at this
    index (see :func:`parse_item`): never changed once made, its parts
    copied where another message changes them (a tool result's name and kind).

    ``system``: ``parts`` as a system message, ``lead`` the same texts as
    the system prompt (a developer's marked so). ``assistant``: ``legacy``
    is the name and id of its legacy ``function_call`` (the last part).
    ``result``: one tool result in ``parts``; or, for a ``function`` message
    without a ``tool_call_id``, none: ``content`` waits for the id of the
    call named ``name`` (``error``, a content error, is raised after that
    lookup, as a whole parse raises it)."""

    kind: Kind
    index: int
    parts: tuple[Part, ...] = ()
    lead: tuple[Text, ...] = ()
    developer: bool = False
    legacy: tuple[str, str] | None = None
    name: str | None = None
    content: tuple[Text | Media, ...] = ()
    error: tuple[str, str] | None = None


def parse_item(raw: Any, i: int) -> Item:
    """``messages[i]`` on its own, as :func:`parse_request` reads it (the same
    errors, in the same order)."""
    path = f"messages[{i}]"
    if not isinstance(raw, dict):
        raise TranslationError(path, "message must be an object")
    role = raw.get("role")
    if role in ("system", "developer"):
        return _system(raw, path, role, i)
    if role in ("tool", "function"):
        return _tool_result(raw, path, role, i)
    if role == "user":
        parts = content_parts(raw.get("content"), f"{path}.content")
        return Item("user", i, tuple(parts))
    if role == "assistant":
        return _assistant(raw, path, i)
    raise TranslationError(f"{path}.role", f"unsupported role {role!r}")


def _system(raw: dict[str, Any], path: str, role: str, i: int) -> Item:
    texts: list[Text] = []
    for part in content_parts(raw.get("content"), f"{path}.content"):
        if not isinstance(part, Text):
            raise TranslationError(f"{path}.content", f"{role} messages hold only text")
        texts.append(part)
    if role != "developer":
        return Item("system", i, tuple(texts), tuple(texts))
    # o1-style models reject "system"; remember the client said "developer".
    lead = tuple(Text(t.text, t.cache_control, _developer(), t.citations) for t in texts)
    return Item("system", i, tuple(texts), lead, developer=True)


def _developer() -> Meta:
    return {NAME: {"role": "developer"}}


def _assistant(raw: dict[str, Any], path: str, i: int) -> Item:
    parts = assistant_parts(raw, path, id_prefix=f"call_m{i}_")
    last = parts[-1] if parts and legacy_function_call(raw) is not None else None
    # A later role "function" message answers it by name only.
    legacy = (last.name, last.id) if isinstance(last, ToolCall) else None
    return Item("assistant", i, tuple(parts), legacy=legacy)


def _tool_result(raw: dict[str, Any], path: str, role: str, i: int) -> Item:
    call_id = raw.get("tool_call_id")
    if role == "function" and not isinstance(call_id, str):
        # answered by name: the id is the request's to find, before any content error
        try:
            content = _result_content(raw, path)
        except TranslationError as exc:
            return Item("result", i, name=_str(raw.get("name")), error=(exc.path, exc.message))
        return Item("result", i, name=_str(raw.get("name")), content=tuple(content))
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{path}.tool_call_id", "required")
    content = _result_content(raw, path)
    # name and kind: the call's, when the request holds it (see _Assembly)
    return Item("result", i, (ToolResult(call_id, content, name=_str(raw.get("name"))),))


def _result_content(raw: dict[str, Any], path: str) -> list[Text | Media]:
    content: list[Text | Media] = []
    for part in content_parts(raw.get("content"), f"{path}.content"):
        if not isinstance(part, Text | Media):
            raise TranslationError(f"{path}.content", "tool messages hold only text")
        content.append(part)
    return content


# ---------------------------------------------------------------- the request


Named = Callable[[ToolResult, str, ToolKind], ToolResult]


class _Assembly:
    """The items of one request into its system prompt and messages: new
    lists and messages, an item's parts copied where they change."""

    def __init__(self, request: Request, named: Named) -> None:
        self.request = request
        self.named = named
        self.calls: dict[str, ToolCall] = {}
        self.legacy: dict[str, list[str]] = {}  # function name -> unanswered call ids
        self.leading = True  # still in the run of system messages at the start
        self.tool_run: Message | None = None  # user message collecting tool results

    def add(self, items: Iterable[Item]) -> None:
        messages = self.request.messages
        for item in items:
            kind = item.kind
            if kind == "system":
                if self.leading:
                    self.request.system.extend(item.lead)
                    continue
                self.tool_run = None
                meta = _developer() if item.developer else {}
                messages.append(Message("system", list(item.parts), meta=meta))
                continue
            self.leading = False
            if kind == "result":
                self._result(item)
                continue
            self.tool_run = None
            if kind == "assistant":
                self._assistant(item)
            messages.append(Message(kind, list(item.parts)))

    def _assistant(self, item: Item) -> None:
        for part in item.parts:
            if isinstance(part, ToolCall):
                self.calls[part.id] = part
        if item.legacy is not None:
            name, call_id = item.legacy
            self.legacy.setdefault(name, []).append(call_id)

    def _result(self, item: Item) -> None:
        if item.parts:
            result = item.parts[0]
            assert isinstance(result, ToolResult)
            call = self.calls.get(result.call_id)
            if call is not None and (call.name, call.kind) != (result.name, result.kind):
                result = self.named(result, call.name, call.kind)
        else:
            call_id = self._legacy_id(item)
            if item.error is not None:
                raise TranslationError(*item.error)
            call = self.calls.get(call_id)
            result = ToolResult(
                call_id,
                list(item.content),
                name=call.name if call else item.name,
                kind=call.kind if call else "function",
            )
        if self.tool_run is None:
            self.tool_run = Message("user", [])
            self.request.messages.append(self.tool_run)
        self.tool_run.parts.append(result)

    def _legacy_id(self, item: Item) -> str:
        pending = self.legacy.get(item.name) if item.name is not None else None
        if not pending:
            raise TranslationError(
                f"messages[{item.index}].role",
                "a 'function' message needs an earlier assistant function_call",
            )
        return pending.pop(0)


def _named(part: ToolResult, name: str, kind: ToolKind) -> ToolResult:
    """``part`` with the name and kind of the call it answers (a copy: the
    part may be a remembered message's; built directly, as
    ``dataclasses.replace`` costs several times as much)."""
    return ToolResult(
        part.call_id,
        part.content,
        is_error=part.is_error,
        name=name,
        kind=kind,
        cache_control=part.cache_control,
        meta=part.meta,
    )


def _remembered_named(part: ToolResult, name: str, kind: ToolKind) -> ToolResult:
    """:func:`_named` for remembered messages: the same copy for the same
    part and call each turn (a resent message's parts stay the same objects)."""
    known = _NAMED.known(part, (name, kind))
    if known is not None:
        return known
    return _NAMED.get(part, (name, kind), lambda: _named(part, name, kind))


_NAMED = Copies()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
