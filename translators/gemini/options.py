"""Request options for Gemini: tools, toolConfig and generationConfig."""

from __future__ import annotations

from typing import Any

from ..canonical import ReasoningConfig, Request, Tool, ToolChoice, effort_to_budget
from ..schema import clean_schema
from .common import NAME
from .web import render_tool as render_web_tool

MAX_STOP_SEQUENCES = 5

_CHOICE_MODE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}


def tools(request: Request) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    builtins: list[dict[str, Any]] = []
    for tool in request.tools:
        if tool.kind == "builtin":
            raw = tool.meta.get(NAME) or render_web_tool(tool)
            if raw:
                builtins.append(dict(raw))
            else:
                request.warnings.append(f"gemini: dropped built-in tool {tool.name!r}")
        else:
            declarations.append(_declaration(tool))
    out = [{"functionDeclarations": declarations}] if declarations else []
    return out + builtins


def _declaration(tool: Tool) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": tool.name}
    description = tool.description or ""
    if tool.kind == "custom":
        # Gemini has no freeform tools: the raw input becomes one string
        # argument, "input" (see parts.call_args for the way back).
        hint = "Put the complete raw input for this tool in `input`."
        if tool.custom_format:
            hint += f" Input format: {tool.custom_format}"
        decl["description"] = f"{description}\n\n{hint}".strip()
        decl["parameters"] = {
            "type": "OBJECT",
            "properties": {"input": {"type": "STRING"}},
            "required": ["input"],
        }
        return decl
    if description:
        decl["description"] = description
    if tool.parameters:
        params = clean_schema(tool.parameters, "gemini")
        # A function without arguments: Gemini rejects an OBJECT with empty
        # properties, so the parameters are left out altogether.
        if params.get("properties") or params.get("type") not in (None, "OBJECT"):
            decl["parameters"] = params
    return decl


def tool_config(choice: ToolChoice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    config: dict[str, Any] = {"mode": _CHOICE_MODE[choice.mode]}
    if choice.mode == "tool" and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


def generation_config(request: Request) -> dict[str, Any]:
    config: dict[str, Any] = {}
    _put(config, "temperature", request.temperature)
    _put(config, "topP", request.top_p)
    _put(config, "topK", request.top_k)
    _put(config, "maxOutputTokens", request.max_tokens)
    _put(config, "seed", request.seed)
    _put(config, "presencePenalty", request.presence_penalty)
    _put(config, "frequencyPenalty", request.frequency_penalty)
    if request.stop:
        if len(request.stop) > MAX_STOP_SEQUENCES:
            request.warnings.append(f"gemini: only the first {MAX_STOP_SEQUENCES} stop sequences")
        config["stopSequences"] = request.stop[:MAX_STOP_SEQUENCES]
    _response_format(request, config)
    thinking = _thinking(request)
    if thinking:
        config["thinkingConfig"] = thinking
    config.update(request.meta.get(NAME, {}).get("generationConfig", {}))
    return config


def _put(config: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        config[key] = value


def _response_format(request: Request, config: dict[str, Any]) -> None:
    """responseJsonSchema takes standard JSON Schema ($ref, $defs, anyOf,
    additionalProperties...) where responseSchema takes only the OpenAPI
    subset, so the client's schema goes as it is."""
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return
    config["responseMimeType"] = "application/json"
    if fmt.type == "json_schema" and fmt.schema:
        config["responseJsonSchema"] = fmt.schema


def _thinking(request: Request) -> dict[str, Any] | None:
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if not reasoning.enabled or reasoning.effort == "none":
        return _thinking_off(request)
    config: dict[str, Any] = {}
    level = request.meta.get(NAME, {}).get("thinkingLevel")
    if not isinstance(level, str):
        level = _level(request.model, reasoning)
    if level is not None:
        config["thinkingLevel"] = level
    else:
        config["thinkingBudget"] = _budget(reasoning)
    if reasoning.include_thoughts is not False:
        config["includeThoughts"] = True
    return config


def _level(model: str, reasoning: ReasoningConfig) -> str | None:
    """Gemini 3 takes a thinking level: the client's effort, clamped to the
    levels the model has (Pro: LOW and HIGH; Flash: MINIMAL to HIGH)."""
    model = model.lower()
    if "gemini-3" not in model or reasoning.effort is None or reasoning.budget_tokens:
        return None
    level = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM"}.get(reasoning.effort, "HIGH")
    if "pro" in model:
        return "LOW" if level in ("MINIMAL", "LOW") else "HIGH"
    return level


def _budget(reasoning: ReasoningConfig) -> int:
    """An explicit budget, else the effort's budget (adaptive thinking with an
    effort keeps the effort), else dynamic (-1) for adaptive thinking."""
    if reasoning.budget_tokens is not None:
        return reasoning.budget_tokens
    if reasoning.adaptive and reasoning.effort is None:
        return -1
    return effort_to_budget(reasoning.effort)


def _thinking_off(request: Request) -> dict[str, Any]:
    """Thinking off is budget 0, except on models that always think, where
    Gemini rejects 0: their smallest setting instead."""
    model = request.model.lower()
    if "gemini-3" in model:
        request.warnings.append(
            "gemini: this model cannot turn thinking off; using the lowest level"
        )
        return {"thinkingLevel": "LOW" if "pro" in model else "MINIMAL"}
    if "2.5-pro" in model:
        request.warnings.append("gemini: this model cannot turn thinking off; using budget 128")
        return {"thinkingBudget": 128}
    return {"thinkingBudget": 0}
