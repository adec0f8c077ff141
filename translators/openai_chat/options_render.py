"""Request options besides messages (rendering direction)."""

from __future__ import annotations

from typing import Any

from .. import freeform
from ..canonical import ReasoningConfig, Request, ResponseFormat, Tool, budget_to_effort
from .common import CUSTOM_TOOLS, NAME

MAX_STOP = 4  # OpenAI rejects more stop sequences


def render_options(request: Request, body: dict[str, Any]) -> None:
    ours = request.meta.get(NAME, {})
    _render_tools(request, body)
    if request.max_tokens is not None:
        body[_max_tokens_field(request, ours)] = request.max_tokens
    _render_sampling(request, body)
    effort = _effort(request.reasoning)
    if effort is not None:
        body["reasoning_effort"] = effort
    if request.response_format is not None:
        body["response_format"] = _response_format(request.response_format)
    if request.stream:
        # Always ask for usage: the translated stream must end with real counts.
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.previous_response_id:
        request.warnings.append("openai-chat: previous_response_id dropped (chat is stateless)")
    for key, value in (ours.get("extra") or {}).items():
        body.setdefault(key, value)


def _max_tokens_field(request: Request, ours: dict[str, Any]) -> str:
    """``max_tokens`` is what every OpenAI-compatible server knows; OpenAI's
    reasoning models accept only ``max_completion_tokens``, so that is sent
    when the client used it or asked for reasoning."""
    thinking = request.reasoning is not None and request.reasoning.enabled
    if ours.get("max_tokens_field") == "max_completion_tokens" or thinking:
        return "max_completion_tokens"
    return "max_tokens"


def _render_sampling(request: Request, body: dict[str, Any]) -> None:
    for key in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty", "user"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        if len(request.stop) > MAX_STOP:
            request.warnings.append(f"openai-chat: only the first {MAX_STOP} stop sequences kept")
        body["stop"] = request.stop[:MAX_STOP]
    if request.top_k is not None:
        request.warnings.append("openai-chat: top_k dropped (not a Chat Completions parameter)")


def _render_search(request: Request, body: dict[str, Any]) -> None:
    """A chat client's own ``web_search_options`` go back as sent; another
    format's web tools have no chat form (the route sends them elsewhere,
    or, with ``web_search: {unsupported: drop}``, drops them here)."""
    for tool in request.tools:
        if tool.server is None:
            continue
        raw = (tool.meta.get(NAME) or {}).get("web_search_options")
        if isinstance(raw, dict):
            body["web_search_options"] = raw
        else:
            request.warnings.append(f"openai-chat: built-in tool {tool.name!r} dropped")


def _render_tools(request: Request, body: dict[str, Any]) -> None:
    _render_search(request, body)
    tools = [t for t in (_tool(tool, request) for tool in request.tools) if t is not None]
    if not tools:
        # tool_choice and parallel_tool_calls without tools are rejected.
        return
    body["tools"] = tools
    choice = request.tool_choice
    if choice is not None:
        if choice.mode == "tool":
            kind = next((t.kind for t in request.tools if t.name == choice.name), "function")
            kind = "custom" if kind == "custom" and native_custom(request) else "function"
            body["tool_choice"] = {"type": kind, kind: {"name": choice.name}}
        else:
            body["tool_choice"] = choice.mode
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls


def _tool(tool: Tool, request: Request) -> dict[str, Any] | None:
    if tool.server is not None:
        return None  # web_search_options, not a tool (see _render_search)
    if tool.kind == "builtin":
        raw = tool.meta.get(NAME)
        if raw is None:
            request.warnings.append(f"openai-chat: built-in tool {tool.name!r} dropped")
            return None
        return dict(raw)
    spec: dict[str, Any] = {"name": tool.name}
    if tool.kind == "custom" and not native_custom(request):
        # Most chat providers (DeepSeek, Groq, vLLM, ...) have no freeform
        # tools: offered as a function of one string (see freeform.py).
        spec["description"] = (tool.description or "") + freeform.note(tool)
        spec["parameters"] = freeform.INPUT_SCHEMA
        return {"type": "function", "function": spec}
    if tool.description is not None:
        spec["description"] = tool.description
    if tool.kind == "custom":
        if tool.custom_format is not None:
            spec["format"] = tool.custom_format
        return {"type": "custom", "custom": spec}
    if tool.parameters is not None:
        spec["parameters"] = tool.parameters
    if tool.strict is not None:
        spec["strict"] = tool.strict
    return {"type": "function", "function": spec}


def native_custom(request: Request) -> bool:
    """Whether custom tools go out as chat custom tools (the client's own)."""
    return bool(request.meta.get(NAME, {}).get(CUSTOM_TOOLS))


def _effort(config: ReasoningConfig | None) -> str | None:
    """``reasoning_effort`` from the client's effort or budget. Thinking
    switched off is only said as "none" when the client said exactly that:
    many models reject "none"."""
    if config is None:
        return None
    if not config.enabled:
        return "none" if config.effort == "none" else None
    if config.effort is not None:
        effort: str = config.effort
    elif config.budget_tokens is not None:
        effort = budget_to_effort(config.budget_tokens)
    else:
        return None  # adaptive / unspecified: let the model decide
    return "xhigh" if effort == "max" else effort


def _response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    if fmt.description is not None:
        spec["description"] = fmt.description
    return {"type": "json_schema", "json_schema": spec}
