"""A request without its thinking blocks: the retry after a provider refused a
thinking signature (the conversation carried one it cannot check)."""

from __future__ import annotations

from typing import Any

_ANTHROPIC_THINKING = frozenset({"thinking", "redacted_thinking"})


def without_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic thinking blocks, Responses reasoning items and Gemini thought
    parts (with their signatures) removed; everything else as it was."""
    out = dict(body)
    if isinstance(body.get("messages"), list):
        out["messages"] = [_message(m) for m in body["messages"]]
    if isinstance(body.get("input"), list):
        out["input"] = [
            item
            for item in body["input"]
            if not (isinstance(item, dict) and item.get("type") == "reasoning")
        ]
    if isinstance(body.get("contents"), list):
        out["contents"] = [_content(c) for c in body["contents"]]
    return out


def _message(message: Any) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    blocks = [
        b
        for b in message["content"]
        if not (isinstance(b, dict) and b.get("type") in _ANTHROPIC_THINKING)
    ]
    return {**message, "content": blocks}


def _content(content: Any) -> Any:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return content
    parts = []
    for part in content["parts"]:
        if isinstance(part, dict):
            if part.get("thought"):
                continue
            part = {k: v for k, v in part.items() if k != "thoughtSignature"}
        parts.append(part)
    return {**content, "parts": parts}
