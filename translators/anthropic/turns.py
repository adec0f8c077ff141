"""Canonical messages -> Anthropic ``messages`` that Anthropic accepts.

Anthropic is strict where other formats are lax, so the conversation is
repaired, each repair noted in ``warnings``:

* a mid-conversation system message becomes a ``<system-reminder>`` text
  block in a user turn (Anthropic has no system role inside ``messages``);
* consecutive turns of one role are merged;
* in a user turn tool_result blocks come first;
* every tool_use is answered in the next user turn (a missing result becomes
  an error result "tool result missing"), and a result answering no call of
  the previous turn becomes plain text;
* thinking is sent back only when Anthropic issued it (signature or redacted
  data); media Anthropic cannot read becomes a short text note.
"""

from __future__ import annotations

from typing import Any

from ..canonical import (
    Env,
    Media,
    Message,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Text,
    ToolCall,
    ToolResult,
)
from ..sse import dumps
from .common import NAME
from .content import (
    media_block,
    media_note,
    signed_thinking,
    text_block,
    tool_result_block,
    tool_use_block,
)
from .web import history_block

Block = dict[str, Any]
Turn = dict[str, Any]

MISSING_RESULT = "tool result missing"


class _Renderer:
    def __init__(self, env: Env, warnings: list[str]) -> None:
        self.env = env
        self.warnings = warnings
        self.dropped_thinking = 0

    def turn(self, message: Message) -> Turn | None:
        if message.role == "system":
            blocks = self.system_reminder(message)
            role = "user"
        else:
            role = message.role
            blocks = [b for b in (self.block(p, role) for p in message.parts) if b is not None]
        return {"role": role, "content": blocks} if blocks else None

    def system_reminder(self, message: Message) -> list[Block]:
        texts = [p.text for p in message.parts if isinstance(p, Text) and p.text.strip()]
        blocks: list[Block] = []
        if texts:
            body = "\n\n".join(texts)
            text = f"<system-reminder>\n{body}\n</system-reminder>"
            blocks.append({"type": "text", "text": text})
        for part in message.parts:
            if not isinstance(part, Text):
                block = self.block(part, "user")
                if block is not None:
                    blocks.append(block)
        return blocks

    def block(self, part: Part, role: str) -> Block | None:
        if isinstance(part, Text):
            return text_block(part)
        if isinstance(part, Refusal):
            return text_block(Text(part.text))
        if isinstance(part, Media):
            return self.media(part, role)
        if isinstance(part, ToolCall):
            if role == "assistant":
                return tool_use_block(part, self.env, self.warnings)
            self.warnings.append(f"tool call {part.id} in a {role} turn dropped")
            return None
        if isinstance(part, ToolResult):
            if role == "user":
                return tool_result_block(part, self.warnings)
            self.warnings.append(f"tool result {part.call_id} in a {role} turn dropped")
            return None
        if isinstance(part, Reasoning):
            block = signed_thinking(part) if role == "assistant" else None
            if block is None:
                self.dropped_thinking += 1
            return block
        if isinstance(part, Opaque):
            return self.opaque(part)
        return history_block(part)

    def media(self, part: Media, role: str) -> Block | None:
        if role != "user":
            self.warnings.append(f"{part.media_type} in an assistant turn dropped")
            return None
        block = media_block(part)
        if block is None:
            self.warnings.append(f"{part.media_type} attachment replaced by a note")
            return media_note(part)
        return block

    def opaque(self, part: Opaque) -> Block | None:
        if part.format == NAME:
            return dict(part.data)  # a copy: cache markers may be removed from it
        self.warnings.append(f"{part.format} item {part.data.get('type')!r} dropped")
        return None


def render_messages(messages: list[Message], env: Env, warnings: list[str]) -> list[Turn]:
    renderer = _Renderer(env, warnings)
    turns: list[Turn] = []
    for message in messages:
        turn = renderer.turn(message)
        if turn is None:
            continue
        if turns and turns[-1]["role"] == turn["role"]:
            turns[-1]["content"].extend(turn["content"])
        else:
            turns.append(turn)
    if renderer.dropped_thinking:
        warnings.append(
            f"{renderer.dropped_thinking} thinking block(s) not issued by Anthropic dropped"
        )
    return _pair_tool_results(turns, warnings)


def _tool_use_ids(turn: Turn) -> list[str]:
    return [b["id"] for b in turn["content"] if b.get("type") == "tool_use"]


def _pair_tool_results(turns: list[Turn], warnings: list[str]) -> list[Turn]:
    out: list[Turn] = []
    pending: list[str] = []
    for turn in turns:
        if turn["role"] == "assistant":
            if pending:
                out.append({"role": "user", "content": _missing(pending, warnings)})
            pending = _tool_use_ids(turn)
        else:
            turn["content"] = _answer(turn["content"], pending, warnings)
            pending = []
        out.append(turn)
    if pending:
        out.append({"role": "user", "content": _missing(pending, warnings)})
    return out


def _answer(blocks: list[Block], pending: list[str], warnings: list[str]) -> list[Block]:
    """A user turn's blocks: results for ``pending`` first, then the rest."""
    results: list[Block] = []
    others: list[Block] = []
    answered: set[str] = set()
    for block in blocks:
        if block.get("type") != "tool_result":
            others.append(block)
            continue
        call_id = block.get("tool_use_id")
        if call_id in pending and call_id not in answered:
            answered.add(call_id)
            results.append(block)
        else:
            warnings.append(f"tool result {call_id} answers no preceding call; sent as text")
            others.append(_as_text(block))
    missing = [call_id for call_id in pending if call_id not in answered]
    return results + _missing(missing, warnings) + others


def _missing(call_ids: list[str], warnings: list[str]) -> list[Block]:
    if call_ids:
        warnings.append(f"no tool result for {', '.join(call_ids)}; sent as an error result")
    return [
        {"type": "tool_result", "tool_use_id": call_id, "is_error": True, "content": MISSING_RESULT}
        for call_id in call_ids
    ]


def _as_text(block: Block) -> Block:
    texts = [c.get("text", "") for c in block.get("content", []) if c.get("type") == "text"]
    body = "\n".join(texts) if texts else dumps(block.get("content", ""))
    return {"type": "text", "text": f"[tool result {block.get('tool_use_id')}]\n{body}"}
