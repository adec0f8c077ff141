"""Canonical Request -> Anthropic Messages request body.

Decisions, each chosen so the request is one Anthropic accepts:

* ``max_tokens`` is required: 8192 when the client gave none (fitting it to
  the target model is the router's job).
* Custom (freeform) tools, which only Responses has, become function tools
  whose ``input_schema`` is ``{input: string}``; a custom tool call in the
  history is sent as ``{"input": "<raw text>"}``. The response side cannot
  know a tool was custom, so calls come back as function calls whose
  arguments are that object (Anthropic's ``kind`` is always "function").
* Structured output (``response_format``) becomes a system instruction that
  carries the schema. ``output_config.format`` exists, but only newer models
  accept it and an older one answers 400; an instruction works on every
  model. Strict tool schemas (``strict``) are dropped for the same reason.
* Thinking: ``budget_tokens`` is the client's budget or its effort's budget,
  at least 1024 and below ``max_tokens`` (raised when needed). Adaptive stays
  adaptive, with ``output_config.effort``. Thinking is left off, with a
  warning, when the last assistant turn with a tool call has no Anthropic
  thinking block (history from another provider) or when tool_choice forces
  a tool: Anthropic rejects both. With thinking on, ``temperature`` (other
  than 1), ``top_k`` and ``top_p`` below 0.95 are dropped.
* ``temperature`` above 1 (OpenAI allows 2) is clamped; ``top_p`` is dropped
  when ``temperature`` is set (recent models reject both together).
* At most 4 ``cache_control`` markers are kept (the latest ones); none is
  ever added.
"""

from __future__ import annotations

from typing import Any

from .. import freeform
from ..canonical import Env, Request, Tool, effort_to_budget, reject_unknown
from ..sse import dumps
from .common import NAME
from .turns import Turn, render_messages
from .web import render_tool as render_web_tool

DEFAULT_MAX_TOKENS = 8192
MIN_BUDGET = 1024
MAX_CACHE_MARKERS = 4
_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}
_EFFORTS.update({"xhigh": "xhigh", "max": "max"})
_CHOICES = {"auto": "auto", "required": "any", "none": "none", "tool": "tool"}


def render_request(request: Request, env: Env) -> dict[str, Any]:
    reject_unknown(request, NAME)
    warnings = request.warnings
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    system = _system(request)
    if system:
        body["system"] = system
    body["messages"] = render_messages(request.messages, env, warnings)
    tools = [t for t in (_tool(tool, warnings) for tool in request.tools) if t is not None]
    if tools:
        body["tools"] = tools
        _tool_choice(request, body)
    _thinking(request, body, warnings)
    _sampling(request, body, warnings)
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    _limit_cache_markers(body, warnings)
    _note_unsupported(request, warnings)
    return body


def _note_unsupported(request: Request, warnings: list[str]) -> None:
    """What Anthropic has no field for (each dropped, said once)."""
    for key in ("seed", "presence_penalty", "frequency_penalty", "previous_response_id"):
        if getattr(request, key) is not None:
            warnings.append(f"{key} dropped: Anthropic has no equivalent")
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        warnings.append(f"response_format {fmt.type} sent as a system instruction")


def _system(request: Request) -> str | list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for text in request.system:
        if text.text.strip():
            block: dict[str, Any] = {"type": "text", "text": text.text}
            if text.cache_control:
                block["cache_control"] = text.cache_control
            blocks.append(block)
    instruction = _format_instruction(request)
    if instruction:
        blocks.append({"type": "text", "text": instruction})
    if len(blocks) == 1 and "cache_control" not in blocks[0]:
        return str(blocks[0]["text"])
    return blocks


def _format_instruction(request: Request) -> str | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    rule = "no prose before or after it and no Markdown code fences."
    if fmt.type == "json_object" or fmt.schema is None:
        return f"Reply with a single valid JSON object only: {rule}"
    label = f' "{fmt.name}"' if fmt.name else ""
    about = f"\n{fmt.description}" if fmt.description else ""
    return (
        f"Reply with a single JSON value only, valid against the JSON Schema{label} below: "
        f"{rule}{about}\n{dumps(fmt.schema)}"
    )


def _tool(tool: Tool, warnings: list[str]) -> dict[str, Any] | None:
    if tool.kind == "builtin":
        raw = tool.meta.get(NAME)
        if raw is None and tool.server is not None:
            return render_web_tool(tool)
        if raw is None:
            warnings.append(f"built-in tool {tool.name!r} has no Anthropic equivalent; dropped")
            return None
        return dict(raw)  # a copy: cache markers may be removed from it
    out: dict[str, Any] = {"name": tool.name}
    description = tool.description or ""
    if tool.kind == "custom":
        description += freeform.note(tool)
        out["input_schema"] = freeform.INPUT_SCHEMA
    else:
        schema = dict(tool.parameters or {})
        schema.setdefault("type", "object")
        if schema["type"] == "object":
            schema.setdefault("properties", {})
        out["input_schema"] = schema
    if description:
        out["description"] = description
    if tool.cache_control:
        out["cache_control"] = tool.cache_control
    return out


def _tool_choice(request: Request, body: dict[str, Any]) -> None:
    choice: dict[str, Any] | None = None
    if request.tool_choice is not None:
        choice = {"type": _CHOICES[request.tool_choice.mode]}
        if request.tool_choice.mode == "tool":
            choice["name"] = request.tool_choice.name
    if request.parallel_tool_calls is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        body["tool_choice"] = choice


def _thinking_blocker(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice", {}).get("type")
    if choice in ("any", "tool"):
        return "Anthropic rejects thinking when tool_choice forces a tool"
    turns: list[Turn] = body["messages"]
    for turn in reversed(turns):
        blocks = turn["content"]
        if turn["role"] != "assistant" or not any(b.get("type") == "tool_use" for b in blocks):
            continue
        if blocks[0].get("type") in ("thinking", "redacted_thinking"):
            return None
        return "the last assistant tool call has no Anthropic thinking block"
    return None


def _thinking(request: Request, body: dict[str, Any], warnings: list[str]) -> None:
    config = request.reasoning
    if config is None:
        return
    if not config.enabled or config.effort == "none":
        body["thinking"] = {"type": "disabled"}
        return
    own = request.meta.get(NAME, {})
    effort = _EFFORTS.get(config.effort or "")
    if effort and (config.adaptive or own.get("effort")):
        body["output_config"] = {"effort": effort}
    if own.get("no_thinking"):
        return  # the client sent an effort without a thinking setting
    blocker = _thinking_blocker(body)
    if blocker is not None:
        warnings.append(f"thinking left off: {blocker}")
        return
    if config.adaptive:
        body["thinking"] = {"type": "adaptive"}
    else:
        budget = max(MIN_BUDGET, config.budget_tokens or effort_to_budget(config.effort))
        if body["max_tokens"] <= budget:
            body["max_tokens"] += budget
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if own.get("thinking_display"):
        body["thinking"]["display"] = own["thinking_display"]


def _thinking_on(body: dict[str, Any]) -> bool:
    return body.get("thinking", {}).get("type") in ("enabled", "adaptive")


def _sampling(request: Request, body: dict[str, Any], warnings: list[str]) -> None:
    temperature, top_p, top_k = request.temperature, request.top_p, request.top_k
    if _thinking_on(body):
        if temperature is not None and temperature != 1:
            warnings.append("temperature dropped: Anthropic requires 1 with thinking")
            temperature = None
        if top_k is not None:
            warnings.append("top_k dropped: Anthropic rejects it with thinking")
            top_k = None
        if top_p is not None and top_p < 0.95:
            warnings.append("top_p dropped: Anthropic requires at least 0.95 with thinking")
            top_p = None
    if temperature is not None and temperature > 1:
        warnings.append(f"temperature {temperature} clamped to 1 (Anthropic's maximum)")
        temperature = 1.0
    if temperature is not None and top_p is not None:
        warnings.append("top_p dropped: recent Anthropic models reject it with temperature")
        top_p = None
    for key, value in (("temperature", temperature), ("top_p", top_p), ("top_k", top_k)):
        if value is not None:
            body[key] = value


def _cache_holders(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object carrying a cache_control marker, in prompt order."""
    found: list[dict[str, Any]] = [t for t in body.get("tools", []) if "cache_control" in t]
    system = body.get("system")
    if isinstance(system, list):
        found += [b for b in system if "cache_control" in b]
    for turn in body["messages"]:
        for block in turn["content"]:
            nested = block.get("content") if block.get("type") == "tool_result" else None
            if isinstance(nested, list):
                found += [b for b in nested if isinstance(b, dict) and "cache_control" in b]
            if "cache_control" in block:
                found.append(block)
    return found


def _limit_cache_markers(body: dict[str, Any], warnings: list[str]) -> None:
    holders = _cache_holders(body)
    extra = len(holders) - MAX_CACHE_MARKERS
    if extra <= 0:
        return
    for holder in holders[:extra]:
        del holder["cache_control"]
    warnings.append(f"{extra} cache_control marker(s) dropped (Anthropic allows 4)")
