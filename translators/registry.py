"""The table of wire formats, keyed by name."""

from __future__ import annotations

from .anthropic import FORMAT as ANTHROPIC
from .base import WireFormat
from .gemini import FORMAT as GEMINI
from .openai_chat import FORMAT as OPENAI_CHAT
from .openai_responses import FORMAT as OPENAI_RESPONSES

FORMATS: dict[str, WireFormat] = {
    fmt.name: fmt for fmt in (OPENAI_CHAT, OPENAI_RESPONSES, ANTHROPIC, GEMINI)
}
