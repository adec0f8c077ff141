"""Canonical request options -> Responses body fields (tools, tool_choice,
reasoning, text format, sampling, OpenAI-only options)."""

from __future__ import annotations

import hashlib
from typing import Any

from ..canonical import Request, Tool, budget_to_effort
from .common import NAME, own_meta
from .options import PASSTHROUGH
from .web import render_tool as render_web_tool

_MAX_IDENTIFIER = 64  # OpenAI rejects longer safety identifiers
_MIN_OUTPUT_TOKENS = 16  # OpenAI rejects smaller max_output_tokens


def render_tools(tools: list[Tool], warnings: list[str]) -> list[dict[str, Any]]:
    """Tool definitions; tools parsed from a namespace go back into it."""
    out: list[dict[str, Any]] = []
    namespaces: dict[str, dict[str, Any]] = {}
    for tool in tools:
        rendered = _tool(tool, warnings)
        if rendered is None:
            continue
        namespace = own_meta(tool.meta).get("namespace") if tool.kind != "builtin" else None
        if not isinstance(namespace, str):
            out.append(rendered)
            continue
        group = namespaces.get(namespace)
        if group is None:
            description = own_meta(tool.meta).get("description")
            group = {
                "type": "namespace",
                "name": namespace,
                "description": description if isinstance(description, str) else "",
                "tools": [],
            }
            namespaces[namespace] = group
            out.append(group)
        group["tools"].append(rendered)
    return out


def _tool(tool: Tool, warnings: list[str]) -> dict[str, Any] | None:
    if tool.kind == "builtin":
        raw = tool.meta.get(NAME)
        if raw is None and tool.server is not None:
            raw = render_web_tool(tool, warnings)
        if raw is None:
            warnings.append(f"built-in tool {tool.name!r} has no Responses equivalent: dropped")
            return None
        return dict(raw)
    if tool.kind == "custom":
        out: dict[str, Any] = {"type": "custom", "name": tool.name}
        if tool.description is not None:
            out["description"] = tool.description
        if tool.custom_format is not None:
            out["format"] = tool.custom_format
        return out
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters or {"type": "object", "properties": {}},
        # Responses defaults to strict schemas, which most clients' schemas
        # (Claude Code, Gemini CLI) do not satisfy: only strict when asked.
        "strict": bool(tool.strict),
    }


def render_tool_choice(request: Request) -> Any:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode != "tool":
        return choice.mode
    tool = next((t for t in request.tools if t.name == choice.name), None)
    if tool is not None and tool.kind == "builtin":
        raw = tool.meta.get(NAME) or {}
        return {"type": raw.get("type", tool.name)}
    kind = "custom" if tool is not None and tool.kind == "custom" else "function"
    return {"type": kind, "name": choice.name}


def render_reasoning(request: Request) -> dict[str, Any] | None:
    config = request.reasoning
    if config is None:
        return None
    out: dict[str, Any] = {}
    if config.effort == "none":
        out["effort"] = "none"
    elif not config.enabled:
        # "none" is not accepted by every reasoning model; the model default
        # is always valid.
        request.warnings.append("reasoning cannot be turned off here: model default effort")
    elif config.effort is not None:
        out["effort"] = "xhigh" if config.effort == "max" else config.effort
    elif config.budget_tokens is not None:
        out["effort"] = budget_to_effort(config.budget_tokens)
    if config.summary is not None:
        out["summary"] = config.summary
    elif config.include_thoughts and config.enabled:
        out["summary"] = "auto"
    return out or None


def render_text(request: Request) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            schema_format: dict[str, Any] = {
                "type": "json_schema",
                "name": fmt.name or "response",
                "schema": fmt.schema or {"type": "object"},
            }
            if fmt.strict is not None:
                schema_format["strict"] = fmt.strict
            if fmt.description is not None:
                schema_format["description"] = fmt.description
            out["format"] = schema_format
        else:
            out["format"] = {"type": fmt.type}
    verbosity = request.meta.get(NAME, {}).get("verbosity")
    if isinstance(verbosity, str):
        out["verbosity"] = verbosity
    return out or None


def render_sampling(request: Request, body: dict[str, Any]) -> None:
    for key, value in (
        ("max_output_tokens", _max_tokens(request)),
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("previous_response_id", request.previous_response_id),
    ):
        if value is not None:
            body[key] = value
    if request.parallel_tool_calls is not None and "tools" in body:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    dropped = [
        name
        for name, value in (
            ("top_k", request.top_k),
            ("stop", request.stop or None),
            ("seed", request.seed),
            ("presence_penalty", request.presence_penalty),
            ("frequency_penalty", request.frequency_penalty),
        )
        if value is not None
    ]
    if dropped:
        request.warnings.append(f"not supported by the Responses API, dropped: {dropped}")
    if request.user:
        body["safety_identifier"] = _identifier(request.user)


def _max_tokens(request: Request) -> int | None:
    # Claude Code probes with max_tokens=1; OpenAI answers anything under 16
    # with a 400.
    value = request.max_tokens
    if value is not None and value < _MIN_OUTPUT_TOKENS:
        request.warnings.append(f"max_output_tokens {value} raised to {_MIN_OUTPUT_TOKENS}")
        return _MIN_OUTPUT_TOKENS
    return value


def _identifier(user: str) -> str:
    # Anthropic's metadata.user_id runs past OpenAI's 64-character limit; a
    # digest keeps it stable per user without making the request invalid.
    if len(user) <= _MAX_IDENTIFIER:
        return user
    return hashlib.sha256(user.encode()).hexdigest()


def render_passthrough(request: Request, body: dict[str, Any]) -> None:
    ours = request.meta.get(NAME, {})
    for key in PASSTHROUGH:
        if ours.get(key) is not None:
            body[key] = ours[key]
