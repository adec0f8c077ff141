"""Read a recorded request body in its own format: what a test asserts about the
request the provider received (the prompt, tool calls paired with results)."""

from __future__ import annotations

import json
from typing import Any

Call = tuple[str | None, str, dict[str, Any]]  # (id, name, arguments)
Result = tuple[str | None, str]  # (id of the call it answers, output text)


def text_of(value: Any) -> str:
    """The text inside a string, a list of text parts, or a one-field dict."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(text_of(v) for v in value)
    if isinstance(value, dict):
        for key in ("text", "output", "result", "content"):
            if key in value:
                return text_of(value[key])
        if len(value) == 1:
            return text_of(next(iter(value.values())))
        return json.dumps(value)
    return str(value)


def _args(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def tool_exchange(fmt: str, body: dict[str, Any]) -> tuple[list[Call], list[Result]]:
    """Every tool call in the history and every tool result, in order."""
    return {"openai-chat": _chat, "openai-responses": _responses,
            "anthropic": _anthropic, "gemini": _gemini}[fmt](body)


def _chat(body: dict[str, Any]) -> tuple[list[Call], list[Result]]:
    calls: list[Call] = []
    results: list[Result] = []
    for m in body.get("messages", []):
        for tc in m.get("tool_calls") or []:
            calls.append((tc.get("id"), tc["function"]["name"], _args(tc["function"]["arguments"])))
        if m.get("role") == "tool":
            results.append((m.get("tool_call_id"), text_of(m.get("content"))))
    return calls, results


def _responses(body: dict[str, Any]) -> tuple[list[Call], list[Result]]:
    calls: list[Call] = []
    results: list[Result] = []
    items = body.get("input")
    for item in items if isinstance(items, list) else []:
        if item.get("type") == "function_call":
            calls.append((item.get("call_id"), item["name"], _args(item.get("arguments"))))
        elif item.get("type") == "function_call_output":
            results.append((item.get("call_id"), text_of(item.get("output"))))
    return calls, results


def _anthropic(body: dict[str, Any]) -> tuple[list[Call], list[Result]]:
    calls: list[Call] = []
    results: list[Result] = []
    for m in body.get("messages", []):
        content = m.get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_use":
                calls.append((block.get("id"), block["name"], dict(block.get("input") or {})))
            elif block.get("type") == "tool_result":
                results.append((block.get("tool_use_id"), text_of(block.get("content"))))
    return calls, results


def _gemini(body: dict[str, Any]) -> tuple[list[Call], list[Result]]:
    calls: list[Call] = []
    results: list[Result] = []
    for c in body.get("contents", []):
        for part in c.get("parts", []):
            if "functionCall" in part:
                fc = part["functionCall"]
                calls.append((fc.get("id"), fc["name"], dict(fc.get("args") or {})))
            elif "functionResponse" in part:
                fr = part["functionResponse"]
                results.append((fr.get("id"), text_of(fr.get("response"))))
    return calls, results


def last_user_text(fmt: str, body: dict[str, Any]) -> str:
    """The text of the last user turn (what the client asked)."""
    if fmt == "gemini":
        turns = [c for c in body.get("contents", []) if c.get("role", "user") == "user"]
        return text_of([p.get("text", "") for p in turns[-1]["parts"]]) if turns else ""
    if fmt == "openai-responses" and isinstance(body.get("input"), str):
        return body["input"]
    key = "input" if fmt == "openai-responses" else "messages"
    turns = [m for m in body.get(key, []) if m.get("role") == "user"]
    return text_of(turns[-1].get("content")) if turns else ""


def reasoning_echo(fmt: str, body: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The reasoning a client sent back in its history: (text, signature) pairs.

    Anthropic: thinking blocks; Responses: reasoning items (summary text,
    encrypted_content); Gemini: thought parts and any part's thoughtSignature;
    Chat: assistant ``reasoning_content`` (DeepSeek wants it back)."""
    out: list[tuple[str, str | None]] = []
    if fmt == "anthropic":
        for m in body.get("messages", []):
            content = m.get("content")
            for b in content if isinstance(content, list) else []:
                if b.get("type") == "thinking":
                    out.append((b.get("thinking", ""), b.get("signature")))
                elif b.get("type") == "redacted_thinking":
                    out.append(("", b.get("data")))
    elif fmt == "openai-responses":
        items = body.get("input")
        for item in items if isinstance(items, list) else []:
            if item.get("type") == "reasoning":
                text = "".join(s.get("text", "") for s in item.get("summary") or [])
                out.append((text, item.get("encrypted_content")))
    elif fmt == "gemini":
        for c in body.get("contents", []):
            for part in c.get("parts", []):
                if part.get("thought") or "thoughtSignature" in part:
                    text = part.get("text", "") if part.get("thought") else ""
                    out.append((text, part.get("thoughtSignature")))
    else:
        for m in body.get("messages", []):
            if m.get("role") == "assistant" and m.get("reasoning_content"):
                out.append((m["reasoning_content"], None))
    return out


def last_assistant_text(fmt: str, body: dict[str, Any]) -> str:
    """The visible text of the last assistant turn (a partial answer sent back
    to be continued: an Anthropic prefill, an assistant message), thinking left out."""
    if fmt == "gemini":
        turns = [c for c in body.get("contents", []) if c.get("role") == "model"]
        parts = turns[-1].get("parts", []) if turns else []
        return "".join(p.get("text", "") for p in parts if not p.get("thought"))
    key = "input" if fmt == "openai-responses" else "messages"
    items = body.get(key)
    turns = [m for m in items if m.get("role") == "assistant"] if isinstance(items, list) else []
    if not turns:
        return ""
    content = turns[-1].get("content")
    if isinstance(content, str):
        return content
    return "".join(
        b.get("text", "") for b in content or [] if b.get("type") in ("text", "output_text")
    )
