"""Request options of a Responses body (tools, tool_choice, reasoning, text
format, sampling) -> canonical."""

from __future__ import annotations

from typing import Any

from ..canonical import (
    Effort,
    Meta,
    ReasoningConfig,
    Request,
    ResponseFormat,
    Tool,
    ToolChoice,
    TranslationError,
)
from .common import NAME, as_dict
from .web import parse_tool as parse_web_tool

EFFORTS: tuple[Effort, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

PASSTHROUGH = (
    "metadata",
    "prompt_cache_key",
    "prompt_cache_retention",
    "include",
    "service_tier",
    "truncation",
    "top_logprobs",
    "max_tool_calls",
)
"""OpenAI-only options with no canonical meaning, kept in ``Request.meta`` so a
Responses upstream still receives them."""


def parse_tools(raw: list[Any], path: str, namespace: dict[str, Any] | None = None) -> list[Tool]:
    """Tool definitions; namespaces are flattened to the names the model calls
    (the namespace is kept in meta so calls can name it again)."""
    tools: list[Tool] = []
    for i, tool in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(tool, dict):
            raise TranslationError(where, "expected a tool object")
        kind = tool.get("type")
        if kind == "namespace":
            inner = {"namespace": tool.get("name"), "description": tool.get("description")}
            tools.extend(parse_tools(tool.get("tools") or [], f"{where}.tools", inner))
        elif kind in ("function", "custom"):
            tools.append(_tool(tool, where, namespace))
        elif (web := parse_web_tool(tool)) is not None:
            tools.append(web)
        elif isinstance(kind, str):
            name = tool.get("name")
            label = name if isinstance(name, str) and name else kind
            tools.append(Tool(label, kind="builtin", meta={NAME: dict(tool)}))
        else:
            raise TranslationError(f"{where}.type", "a tool type is required")
    return tools


def _tool(raw: dict[str, Any], path: str, namespace: dict[str, Any] | None) -> Tool:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{path}.name", "a tool name is required")
    description = raw.get("description") if isinstance(raw.get("description"), str) else None
    meta: Meta = {NAME: dict(namespace)} if namespace else {}
    if raw.get("type") == "custom":
        fmt = raw.get("format")
        return Tool(
            name,
            description,
            kind="custom",
            custom_format=fmt if isinstance(fmt, dict) else None,
            meta=meta,
        )
    params = raw.get("parameters")
    strict = raw.get("strict")
    return Tool(
        name,
        description,
        params if isinstance(params, dict) else None,
        strict=strict if isinstance(strict, bool) else None,
        meta=meta,
    )


def parse_options(body: dict[str, Any], request: Request) -> None:
    request.tool_choice = _tool_choice(body.get("tool_choice"))
    if isinstance(body.get("parallel_tool_calls"), bool):
        request.parallel_tool_calls = body["parallel_tool_calls"]
    request.max_tokens = _number(body, "max_output_tokens", int)
    request.temperature = _number(body, "temperature", float)
    request.top_p = _number(body, "top_p", float)
    request.reasoning = _reasoning(body.get("reasoning"))
    request.response_format = _text_format(as_dict(body.get("text")).get("format"))
    user = body.get("user") or body.get("safety_identifier")
    request.user = user if isinstance(user, str) else None
    if isinstance(body.get("store"), bool):
        request.store = body["store"]
    previous = body.get("previous_response_id")
    request.previous_response_id = previous if isinstance(previous, str) else None
    ours = {key: body[key] for key in PASSTHROUGH if body.get(key) is not None}
    verbosity = as_dict(body.get("text")).get("verbosity")
    if isinstance(verbosity, str):
        ours["verbosity"] = verbosity
    if ours:
        request.meta[NAME] = ours


def _number(body: dict[str, Any], key: str, kind: type[int] | type[float]) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(key, "expected a number")
    return kind(value)


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw)
    if not isinstance(raw, dict):
        raise TranslationError("tool_choice", f"unsupported tool_choice {raw!r}")
    kind = raw.get("type")
    if kind in ("function", "custom") and isinstance(raw.get("name"), str):
        return ToolChoice("tool", raw["name"])
    if kind == "allowed_tools":
        # A subset of tools cannot be expressed canonically: keep the mode.
        return ToolChoice("required" if raw.get("mode") == "required" else "auto")
    if isinstance(kind, str):  # a built-in tool (web_search, file_search, ...)
        return ToolChoice("tool", kind)
    raise TranslationError("tool_choice.type", "a tool_choice type is required")


def _reasoning(raw: Any) -> ReasoningConfig | None:
    if not isinstance(raw, dict):
        return None
    effort = raw.get("effort")
    summary = raw.get("summary") or raw.get("generate_summary")
    return ReasoningConfig(
        enabled=effort != "none",
        effort=effort if effort in EFFORTS else None,
        summary=summary if isinstance(summary, str) else None,
    )


def _text_format(raw: Any) -> ResponseFormat | None:
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if kind == "json_schema":
        schema = raw.get("schema")
        strict = raw.get("strict")
        return ResponseFormat(
            "json_schema",
            schema=schema if isinstance(schema, dict) else None,
            name=raw.get("name") if isinstance(raw.get("name"), str) else None,
            strict=strict if isinstance(strict, bool) else None,
            description=raw.get("description") if isinstance(raw.get("description"), str) else None,
        )
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "text":
        return ResponseFormat("text")
    raise TranslationError("text.format.type", f"unsupported text format {kind!r}")
