"""Complete (non-streamed) chat.completion bodies, both directions."""

from __future__ import annotations

from typing import Any

from ..canonical import (
    Env,
    Reasoning,
    Refusal,
    Response,
    Text,
    ToolCall,
    TranslationError,
    Usage,
)
from .common import finish_reason, parse_usage, render_usage, stop_reason, str_field
from .parts import assistant_parts
from .web import message_annotations, parse_annotations


def parse_response(body: dict[str, Any]) -> Response:
    if not isinstance(body, dict):
        raise TranslationError("", "response body must be a JSON object")
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    if not isinstance(choice, dict):
        raise TranslationError("choices[0]", "must be an object")
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    parts = assistant_parts(message, "choices[0].message", strict=False)
    cited = parse_annotations(message.get("annotations"))
    text = next((p for p in parts if isinstance(p, Text)), None)
    if cited and text is not None:
        text.citations.extend(cited)
    created = body.get("created")
    return Response(
        id=str_field(body, "id"),
        model=str_field(body, "model"),
        parts=parts,
        stop_reason=stop_reason(
            choice.get("finish_reason"),
            has_tool_calls=any(isinstance(p, ToolCall) for p in parts),
            has_refusal=any(isinstance(p, Refusal) for p in parts),
        ),
        usage=parse_usage(body.get("usage")),
        created=created if isinstance(created, int) else None,
    )


def render_response(response: Response, env: Env) -> dict[str, Any]:
    texts: list[str] = []
    reasoning: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, Text):
            texts.append(part.text)
        elif isinstance(part, Reasoning):
            # Any provider's thinking is shown as text; chat has no place for
            # signatures, so only our own comes back usable (see parse_request).
            reasoning.append(part.text)
        elif isinstance(part, Refusal):
            refusals.append(part.text)
        elif isinstance(part, ToolCall):
            calls.append(render_tool_call(part, env))
        # Media output and other providers' items have no place in a chat message.
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (calls or refusals) else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    notes = message_annotations(response.parts)
    if notes:
        message["annotations"] = notes
    if calls:
        message["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(
            response.stop_reason, has_tool_calls=bool(calls), has_refusal=bool(refusals)
        ),
    }
    return {
        "id": response.id or env.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": response.created if response.created is not None else env.now(),
        "model": response.model,
        "choices": [choice],
        # Clients read usage without checking for it; zeros beat a crash.
        "usage": render_usage(response.usage or Usage()),
    }


def render_tool_call(call: ToolCall, env: Env) -> dict[str, Any]:
    call_id = call.id or env.new_id("call_")
    if call.kind == "custom":
        return {
            "id": call_id,
            "type": "custom",
            "custom": {"name": call.name, "input": call.arguments},
        }
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments or "{}"},
    }
