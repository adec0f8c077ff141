"""generateContent request body -> canonical Request.

Each Content is parsed on its own (:func:`parse_item`: what depends on the
content and its index only, remembered between requests by the engine's
memo) and the contents are then assembled per request (:class:`_Contents`:
which call each functionResponse answers)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from ..canonical import (
    Media,
    Message,
    Opaque,
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
from ..schema import from_gemini_schema, lower_type_names
from ..sse import dumps
from .common import NAME, as_dict, as_list, field
from .parts import parse_media, parse_model_parts
from .web import parse_tool as parse_web_tool

NATIVE_TOP = ("safetySettings",)
"""Top-level keys with no canonical meaning, kept in meta for a Gemini upstream."""
NATIVE_CONFIG = (
    "candidateCount",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "responseLogprobs",
    "logprobs",
)
"""generationConfig keys kept the same way."""

_EFFORTS = {"minimal", "low", "medium", "high", "xhigh"}
_ROLES = {"user": "user", "model": "assistant", "function": "user", "tool": "user"}


def parse_request(
    body: dict[str, Any],
    *,
    model: str | None = None,
    stream: bool | None = None,
    items: Iterable[Item] | None = None,
) -> Request:
    """``items``: ``body["contents"]`` (a list) already parsed one by one
    (produced as they are reached, so that errors come in the same order),
    the member itself then absent from ``body``."""
    if not isinstance(body, dict):
        raise TranslationError("", "the request body must be a JSON object")
    name = model or str(body.get("model") or "")
    request = Request(model=name.removeprefix("models/"), stream=bool(stream))
    request.system = _system(field(body, "systemInstruction"))
    if items is None:
        items = _contents(field(body, "contents"))
        request.messages = _Contents().assemble(items)
    else:  # remembered items (engine.translate.memo): the same copies each turn
        request.messages = _Contents(_PAIRED).assemble(items)
    request.tools = _tools(field(body, "tools"))
    request.tool_choice = _tool_choice(field(body, "toolConfig"))
    _generation_config(field(body, "generationConfig"), request)
    native = {key: field(body, key) for key in NATIVE_TOP if field(body, key) is not None}
    if native:
        request.meta.setdefault(NAME, {}).update(native)
    return request


def _system(value: Any) -> list[Text]:
    if isinstance(value, str):
        return [Text(value)] if value else []
    parts = as_list(as_dict(value).get("parts"))
    return [
        Text(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]


_PART_FIELDS = frozenset(
    {
        "text",
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
        "thought",
        "thoughtSignature",
        "partMetadata",
        "videoMetadata",
        "mediaResolution",
    }
)
"""A Part's documented fields (``executableCode`` and ``codeExecutionResult``,
Gemini's own code execution, mean nothing to other formats: they are left out
there)."""


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


def unknown_part(raw: dict[str, Any], path: str) -> tuple[str, str] | None:
    """``(path, field)`` for a part with a field Gemini does not document."""
    for key in raw:
        if _camel(key) not in _PART_FIELDS:
            return path, key
    return None


@dataclass(frozen=True, slots=True)
class Item:
    """One Content parsed on its own: what no other content changes. Its
    parts are shared by every request that sends these bytes at this index
    (see :func:`parse_item`): never changed in place. A functionResponse's
    call id depends on the calls before it: its part (``call_id`` empty) is
    copied with the id per request, from ``pairs``: (its place in ``parts``,
    the id it gave, its name, the positional id if none pairs)."""

    role: Role
    parts: tuple[Part, ...]
    pairs: tuple[tuple[int, Any, Any, str], ...] = ()


def parse_item(content: Any, ci: int) -> Item:
    """``contents[ci]`` on its own, as :func:`parse_request` reads it (the
    same errors, in the same order)."""
    if not isinstance(content, dict):
        raise TranslationError(f"contents[{ci}]", "must be an object")
    role = _ROLES.get(str(content.get("role") or "user"))
    if role is None:
        raise TranslationError(f"contents[{ci}].role", f"unsupported role {content['role']!r}")
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise TranslationError(f"contents[{ci}].parts", "must be a list")
    if role == "assistant":
        return Item("assistant", tuple(_model(ci, parts)))
    return _user(ci, parts)


def _model(ci: int, parts: list[Any]) -> list[Part]:
    # Ids are positional when Gemini gave none: the client resends the
    # same history every turn, so the same call keeps the same id.
    out = parse_model_parts(parts, lambda pi: f"call_gemini_{ci}_{pi}")
    for part in out:
        if isinstance(part, Opaque):
            pi = next(i for i, raw in enumerate(parts) if raw is part.data)
            part.unknown = unknown_part(part.data, f"contents[{ci}].parts[{pi}]")
    return out


def _user(ci: int, parts: list[Any]) -> Item:
    out: list[Part] = []
    pairs: list[tuple[int, Any, Any, str]] = []
    for pi, raw in enumerate(parts):
        if not isinstance(raw, dict):
            raise TranslationError(f"contents[{ci}].parts[{pi}]", "must be an object")
        response = field(raw, "functionResponse")
        if isinstance(response, dict):
            path = f"contents[{ci}].parts[{pi}].functionResponse"
            pairs.append(
                (len(out), response.get("id"), response.get("name"), f"call_gemini_{ci}_{pi}")
            )
            out.append(_result(response, path))
        elif isinstance(raw.get("text"), str):
            if raw["text"]:
                out.append(Text(raw["text"]))
        elif (media := parse_media(raw)) is not None:
            out.append(media)
        elif raw:
            path = f"contents[{ci}].parts[{pi}]"
            out.append(Opaque(NAME, raw, unknown=unknown_part(raw, path)))
    return Item("user", tuple(out), tuple(pairs))


def _result(response: dict[str, Any], path: str) -> ToolResult:
    """A functionResponse, its call id left to the request (:class:`_Contents`)."""
    name = response.get("name")
    is_error, text = _response_text(response.get("response"))
    content: list[Text | Media] = [Text(text)] if text else []
    for i, extra in enumerate(as_list(response.get("parts"))):
        media = parse_media(extra) if isinstance(extra, dict) else None
        if media is not None:
            content.append(media)
        elif isinstance(extra, dict) and isinstance(extra.get("text"), str):
            content.append(Text(extra["text"]))  # (not documented there, but readable)
        elif isinstance(extra, dict) and (unknown := unknown_part(extra, f"{path}.parts[{i}]")):
            # a result holds only text and media: nothing could carry it
            raise TranslationError(unknown[0], f"unknown gemini content type {unknown[1]!r}")
    return ToolResult("", content, is_error, name=str(name) if name else None)


def _contents(contents: Any) -> Iterable[Item]:
    if contents is None:
        return ()
    if not isinstance(contents, list):
        raise TranslationError("contents", "must be a list of Content objects")
    return (parse_item(content, ci) for ci, content in enumerate(contents))


class _Contents:
    """The contents of one request into messages, pairing each
    functionResponse with its call (a copy of the result with its id)."""

    def __init__(self, copies: Copies | None = None) -> None:
        self._copies = copies
        self._unanswered: list[ToolCall] = []
        self._known: set[str] = set()

    def assemble(self, items: Iterable[Item]) -> list[Message]:
        messages: list[Message] = []
        for item in items:
            if item.role == "assistant":
                calls = [p for p in item.parts if isinstance(p, ToolCall)]
                if calls:
                    self._unanswered = calls
                    self._known.update(c.id for c in calls)
            parts = list(item.parts)
            for j, given, name, fallback in item.pairs:
                result = cast(ToolResult, parts[j])
                call_id = self._pair(given, name) or fallback
                parts[j] = self._paired(result, call_id)
            if parts:
                messages.append(Message(item.role, parts))
        return messages

    def _paired(self, result: ToolResult, call_id: str) -> ToolResult:
        if self._copies is None:
            return _paired(result, call_id)
        known = self._copies.known(result, call_id)
        if known is not None:
            return known
        return self._copies.get(result, call_id, lambda: _paired(result, call_id))

    def _pair(self, given: Any, name: Any) -> str | None:
        """The id of the call a response answers: its own id when it names a
        call we saw, else the first unanswered call of that name (Gemini CLI
        invents ids for calls that came without one), else the first one."""
        if isinstance(given, str) and given in self._known:
            self._unanswered = [c for c in self._unanswered if c.id != given]
            return given
        for candidates in ([c for c in self._unanswered if c.name == name], self._unanswered):
            if candidates:
                first = candidates[0]  # (read before: candidates may be the list changed)
                self._unanswered.remove(first)
                return first.id
        return given if isinstance(given, str) and given else None


_PAIRED = Copies()
"""Results with their call's id: the same copy each turn for a remembered one."""


def _paired(result: ToolResult, call_id: str) -> ToolResult:
    return ToolResult(call_id, result.content, result.is_error, name=result.name)


def _response_text(response: Any) -> tuple[bool, str]:
    """functionResponse.response -> (is_error, text). ``{"output": x}`` and
    ``{"result": x}`` (what Gemini CLI and the docs send) give x; ``{"error":
    x}`` marks an error; any other object is kept whole as JSON."""
    if response is None:
        return False, ""
    if isinstance(response, dict) and len(response) == 1:
        key, value = next(iter(response.items()))
        if key in ("output", "result", "content", "error"):
            return key == "error", value if isinstance(value, str) else dumps(value)
    return False, response if isinstance(response, str) else dumps(response)


def _tools(value: Any) -> list[Tool]:
    tools: list[Tool] = []
    for i, entry in enumerate(as_list(value)):
        if not isinstance(entry, dict):
            raise TranslationError(f"tools[{i}]", "must be an object")
        for key, spec in entry.items():
            if key in ("functionDeclarations", "function_declarations"):
                tools.extend(_declaration(d, f"tools[{i}].{key}[{j}]") for j, d in enumerate(spec))
            else:
                web = parse_web_tool(key, spec)
                tools.append(web or Tool(name=key, kind="builtin", meta={NAME: {key: spec}}))
    return tools


def _declaration(decl: Any, path: str) -> Tool:
    if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
        raise TranslationError(path, "a function declaration needs a name")
    schema = lower_type_names(field(decl, "parametersJsonSchema"))
    if schema is None and field(decl, "parameters") is not None:
        schema = from_gemini_schema(field(decl, "parameters"))
    return Tool(decl["name"], decl.get("description"), schema if isinstance(schema, dict) else None)


def _tool_choice(value: Any) -> ToolChoice | None:
    config = as_dict(field(as_dict(value), "functionCallingConfig"))
    mode = str(config.get("mode") or "").upper()
    allowed = as_list(field(config, "allowedFunctionNames"))
    if mode == "NONE":
        return ToolChoice("none")
    if mode == "ANY":
        if len(allowed) == 1 and isinstance(allowed[0], str):
            return ToolChoice("tool", allowed[0])
        return ToolChoice("required")
    # VALIDATED is AUTO with schema-checked calls: the same choice.
    return ToolChoice("auto") if mode in ("AUTO", "VALIDATED") else None


def _generation_config(value: Any, request: Request) -> None:
    config = as_dict(value)
    request.temperature = _number(field(config, "temperature"))
    request.top_p = _number(field(config, "topP"))
    request.top_k = _integer(field(config, "topK"))
    request.max_tokens = _integer(field(config, "maxOutputTokens"))
    request.seed = _integer(config.get("seed"))
    request.presence_penalty = _number(field(config, "presencePenalty"))
    request.frequency_penalty = _number(field(config, "frequencyPenalty"))
    request.stop = [s for s in as_list(field(config, "stopSequences")) if isinstance(s, str)]
    request.response_format = _response_format(config)
    request.reasoning = _reasoning(field(config, "thinkingConfig"), request)
    native = {key: field(config, key) for key in NATIVE_CONFIG if field(config, key) is not None}
    if native:
        request.meta.setdefault(NAME, {})["generationConfig"] = native


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _response_format(config: dict[str, Any]) -> ResponseFormat | None:
    if field(config, "responseMimeType") != "application/json":
        return None
    schema = lower_type_names(field(config, "responseJsonSchema"))
    if schema is None and field(config, "responseSchema") is not None:
        schema = from_gemini_schema(field(config, "responseSchema"))
    if isinstance(schema, dict):
        return ResponseFormat("json_schema", schema=schema)
    return ResponseFormat("json_object")


def _reasoning(value: Any, request: Request) -> ReasoningConfig | None:
    if not isinstance(value, dict):
        return None
    include = field(value, "includeThoughts")
    reasoning = ReasoningConfig(include_thoughts=include if isinstance(include, bool) else None)
    level = field(value, "thinkingLevel")
    if isinstance(level, str) and level.lower() in _EFFORTS:
        reasoning.effort = level.lower()  # type: ignore[assignment]
        request.meta.setdefault(NAME, {})["thinkingLevel"] = level
    budget = field(value, "thinkingBudget")
    if isinstance(budget, int) and not isinstance(budget, bool):
        if budget == 0:
            reasoning.enabled = False
        elif budget < 0:
            reasoning.adaptive = True
        else:
            reasoning.budget_tokens = budget
    return reasoning
