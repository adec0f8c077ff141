"""Freeform (custom) tools for providers that only have function tools.

Responses clients (Codex: ``exec``, ``apply_patch``) declare tools whose input
is raw text. Anthropic, Gemini and most OpenAI-compatible chat providers only
know JSON function tools, so such a tool is offered as a function taking one
string, ``input``; a call comes back as ``{"input": "..."}`` and
:class:`translators.stream.CustomCalls` turns it back into a custom call for
the client.
"""

from __future__ import annotations

import json
from typing import Any

from .canonical import Tool

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
}


def note(tool: Tool) -> str:
    """What the model must be told, appended to the tool's description."""
    text = "\n\nPut the tool's whole freeform input, as text, in the `input` field."
    fmt = tool.custom_format or {}
    if fmt.get("type") == "grammar" and fmt.get("definition"):
        text += f"\nThe input follows this {fmt.get('syntax', '')} grammar:\n{fmt['definition']}"
    return text


def as_arguments(raw_input: str) -> str:
    """A custom call's raw input as the JSON arguments of the function."""
    return json.dumps({"input": raw_input}, ensure_ascii=False)
