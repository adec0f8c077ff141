"""Request options besides messages: tools, tool choice, sampling, reasoning,
structured output (parsing direction)."""

from __future__ import annotations

from typing import Any, Final, cast

from ..canonical import (
    Effort,
    ReasoningConfig,
    Request,
    ResponseFormat,
    Tool,
    ToolChoice,
    TranslationError,
)
from .common import CUSTOM_TOOLS, NAME, text_of
from .web import parse_options as parse_search_options

EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

PASSTHROUGH: Final = (
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "n",
    "service_tier",
    "metadata",
    "modalities",
    "audio",
    "prediction",
    "verbosity",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "store",
)
"""OpenAI options with no canonical meaning, kept in ``meta`` so that a
request routed to another openai-chat endpoint keeps them."""


def parse_options(body: dict[str, Any], request: Request) -> None:
    _parse_tools(body, request)
    _parse_sampling(body, request)
    request.reasoning = _parse_reasoning(body)
    request.response_format = _parse_response_format(body.get("response_format"))
    request.stream = body.get("stream") is True
    options = body.get("stream_options")
    if isinstance(options, dict) and isinstance(options.get("include_usage"), bool):
        request.include_usage = options["include_usage"]
    extra = {key: body[key] for key in PASSTHROUGH if body.get(key) is not None}
    if isinstance(extra.get("store"), bool):
        request.store = extra["store"]
    if isinstance(body.get("n"), int) and body["n"] > 1:
        request.warnings.append("openai-chat: n > 1 is not supported; one choice is returned")
    ours: dict[str, Any] = {}
    if extra:
        ours["extra"] = extra
    if body.get("max_completion_tokens") is not None:
        # OpenAI's reasoning models reject max_tokens; keep the field the client chose.
        ours["max_tokens_field"] = "max_completion_tokens"
    if ours:
        request.meta.setdefault(NAME, {}).update(ours)


def _parse_tools(body: dict[str, Any], request: Request) -> None:
    search = parse_search_options(body.get("web_search_options"))
    if search is not None:
        request.tools.append(search)
    raw_tools = body.get("tools")
    if raw_tools is not None and not isinstance(raw_tools, list):
        raise TranslationError("tools", "must be a list")
    for i, raw in enumerate(raw_tools or []):
        request.tools.append(_tool(raw, f"tools[{i}]"))
    if any(tool.kind == "custom" for tool in request.tools):
        # A chat client's own custom tools go back as such to a chat provider;
        # others' are offered as functions (see options_render._tool).
        request.meta.setdefault(NAME, {})[CUSTOM_TOOLS] = True
    for i, raw in enumerate(body.get("functions") or []):  # legacy function calling
        request.tools.append(_tool({"type": "function", "function": raw}, f"functions[{i}]"))
    choice = body.get("tool_choice")
    if choice is not None:
        request.tool_choice = _tool_choice(choice, request)
    elif body.get("function_call") is not None:
        request.tool_choice = _legacy_choice(body["function_call"])
    if isinstance(body.get("parallel_tool_calls"), bool):
        request.parallel_tool_calls = body["parallel_tool_calls"]


def _tool(raw: Any, path: str) -> Tool:
    if not isinstance(raw, dict):
        raise TranslationError(path, "tool must be an object")
    kind = raw.get("type", "function")
    if kind in ("function", "custom"):
        spec = raw.get(kind)
        if not isinstance(spec, dict):
            raise TranslationError(f"{path}.{kind}", "must be an object")
        name = text_of(spec.get("name"), f"{path}.{kind}.name")
        description = spec.get("description") if isinstance(spec.get("description"), str) else None
        if kind == "custom":
            fmt = spec.get("format")
            return Tool(name, description, kind="custom", custom_format=_dict(fmt))
        strict = spec.get("strict")
        return Tool(
            name,
            description,
            parameters=_dict(spec.get("parameters")),
            strict=strict if isinstance(strict, bool) else None,
        )
    # A provider's own tool (OpenRouter plugins and the like): only we can send it.
    return Tool(str(kind), kind="builtin", meta={NAME: dict(raw)})


def _tool_choice(raw: Any, request: Request) -> ToolChoice:
    if raw in ("auto", "none", "required"):
        return ToolChoice(mode=raw)
    if isinstance(raw, dict):
        kind = raw.get("type")
        spec = raw.get(kind) if isinstance(kind, str) else None
        if kind in ("function", "custom") and isinstance(spec, dict):
            return ToolChoice("tool", text_of(spec.get("name"), f"tool_choice.{kind}.name"))
        if kind == "allowed_tools" and isinstance(spec, dict):
            return _allowed_tools(spec, request)
    raise TranslationError("tool_choice", f"unsupported tool_choice {raw!r}")


def _allowed_tools(spec: dict[str, Any], request: Request) -> ToolChoice:
    """``allowed_tools`` has no canonical twin; the nearest request offers the
    model only the allowed tools."""
    names = set()
    for entry in spec.get("tools") or []:
        kind = entry.get("type") if isinstance(entry, dict) else None
        named = entry.get(kind) if isinstance(kind, str) else None
        if isinstance(named, dict) and isinstance(named.get("name"), str):
            names.add(named["name"])
    if names:
        request.tools = [t for t in request.tools if t.name in names or t.kind == "builtin"]
    if spec.get("mode") != "required":
        return ToolChoice("auto")
    return ToolChoice("tool", names.pop()) if len(names) == 1 else ToolChoice("required")


def _legacy_choice(raw: Any) -> ToolChoice:
    if raw in ("auto", "none"):
        return ToolChoice(mode=raw)
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return ToolChoice("tool", raw["name"])
    raise TranslationError("function_call", f"unsupported function_call {raw!r}")


def _parse_sampling(body: dict[str, Any], request: Request) -> None:
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            request.max_tokens = _int(body[key], key)
            break
    request.temperature = _number(body, "temperature")
    request.top_p = _number(body, "top_p")
    request.presence_penalty = _number(body, "presence_penalty")
    request.frequency_penalty = _number(body, "frequency_penalty")
    if body.get("top_k") is not None:  # vLLM, OpenRouter, Ollama extension
        request.top_k = _int(body["top_k"], "top_k")
    if body.get("seed") is not None:
        request.seed = _int(body["seed"], "seed")
    stop = body.get("stop")
    if isinstance(stop, str):
        request.stop = [stop]
    elif isinstance(stop, list):
        request.stop = [text_of(s, f"stop[{i}]") for i, s in enumerate(stop)]
    elif stop is not None:
        raise TranslationError("stop", "must be a string or a list of strings")
    if isinstance(body.get("user"), str):
        request.user = body["user"]


def _parse_reasoning(body: dict[str, Any]) -> ReasoningConfig | None:
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in EFFORTS:
            raise TranslationError("reasoning_effort", f"unsupported value {effort!r}")
        return ReasoningConfig(enabled=effort != "none", effort=cast(Effort, effort))
    raw = body.get("reasoning")  # OpenRouter's unified reasoning object
    if not isinstance(raw, dict):
        return None
    config = ReasoningConfig(enabled=raw.get("enabled") is not False)
    if raw.get("effort") in EFFORTS:
        config.effort = raw["effort"]
        config.enabled = config.enabled and raw["effort"] != "none"
    if isinstance(raw.get("max_tokens"), int):
        config.budget_tokens = raw["max_tokens"]
    if raw.get("exclude") is True:
        config.include_thoughts = False
    return config


def _parse_response_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)
    if kind != "json_schema":
        raise TranslationError("response_format.type", f"unsupported value {kind!r}")
    spec = raw.get("json_schema")
    if not isinstance(spec, dict):
        raise TranslationError("response_format.json_schema", "must be an object")
    strict = spec.get("strict")
    return ResponseFormat(
        type="json_schema",
        schema=_dict(spec.get("schema")),
        name=spec.get("name") if isinstance(spec.get("name"), str) else None,
        strict=strict if isinstance(strict, bool) else None,
        description=spec.get("description") if isinstance(spec.get("description"), str) else None,
    )


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise TranslationError(path, f"must be an integer, got {value!r}")
    return int(value)


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(key, f"must be a number, got {value!r}")
    return value
