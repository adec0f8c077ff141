"""Responses items as the store keeps them and as a request needs them: pure
functions, no I/O.

A request's ``input`` is a string or a list of items; a stored response
keeps its own input items (with ids, as ``input_items`` lists them) and its
output items. A conversation chained by ``previous_response_id`` is the
chain's inputs and outputs in order, then the new input.

Compaction (Codex's ``compaction_trigger``, answered elsewhere than OpenAI):
the summary travels back to the client inside the compaction item's
``encrypted_content``, in this project's envelope; when the client sends the
item again it becomes a plain user message with that summary, whatever the
target (no one else can read the envelope, and it must never reach OpenAI).
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from omniroute_mitm.translators.canonical import unwrap_meta, wrap_meta

Item = dict[str, Any]

ENVELOPE_KEY = "omniroute"
COMPACTION = "compaction"
COMPACTION_ALIASES = ("compaction", "compaction_summary")
TRIGGER = "compaction_trigger"

SUMMARY_PREFIX = (
    "Another language model started this task and produced a summary of its work "
    "so far (the earlier conversation was compacted). Use it to continue without "
    "redoing what is done:\n\n"
)
COMPACTION_PROMPT = (
    "Your context is about to be compacted. Write a handoff summary of the "
    "conversation so far for another model that will continue the task: the "
    "user's goals and constraints, what has been done (files, commands, results), "
    "decisions and their reasons, the current state, and the next steps. Be "
    "concise but keep every detail needed to continue. Answer with the summary "
    "only, no tool calls."
)


def new_item_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


def input_items(value: Any) -> list[Item]:
    """A request's ``input`` as a list of items (a string is one user message)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [user_message(value)]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def user_message(text: str) -> Item:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def with_ids(items: list[Item]) -> list[Item]:
    """Copies of ``items`` shaped as the API lists them: an ``id`` on each,
    messages with ``type``, ``status`` and a list of content parts."""
    out = []
    for item in items:
        item = copy.deepcopy(item)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            item["type"] = "message"
            content = item.get("content")
            if isinstance(content, str):
                part = "output_text" if item.get("role") == "assistant" else "input_text"
                item["content"] = [{"type": part, "text": content}]
            item.setdefault("status", "completed")
        if not isinstance(item.get("id"), str) or not item.get("id"):
            item["id"] = new_item_id(_ID_PREFIX.get(str(kind), "item_"))
        out.append(item)
    return out


_ID_PREFIX = {
    "message": "msg_",
    "function_call_output": "fco_",
    "custom_tool_call_output": "ctco_",
    "function_call": "fc_",
    "custom_tool_call": "ctc_",
    "reasoning": "rs_",
}


def output_as_input(output: list[Item]) -> list[Item]:
    """A response's output items as input for the next turn (they are valid
    input items as they are; only the bookkeeping ``status`` of messages goes)."""
    return [copy.deepcopy(item) for item in output if isinstance(item, dict)]


# ------------------------------------------------------------------ compaction


def compaction_item(summary: str) -> Item:
    """The compaction output item carrying ``summary`` in our envelope."""
    content = wrap_meta({ENVELOPE_KEY: {COMPACTION: summary}})
    return {"type": COMPACTION, "id": new_item_id("cmp_"), "encrypted_content": content}


def compaction_summary(item: Item) -> str | None:
    """The summary our envelope carries in a compaction item, else None."""
    if item.get("type") not in COMPACTION_ALIASES:
        return None
    meta = unwrap_meta(item.get("encrypted_content"))
    summary = (meta or {}).get(ENVELOPE_KEY, {}).get(COMPACTION)
    return summary if isinstance(summary, str) else None


def expand_compactions(items: list[Item]) -> list[Item] | None:
    """``items`` with each of our compaction items replaced by a user message
    holding its summary; None when there is none (nothing to change)."""
    out: list[Item] = []
    changed = False
    for item in items:
        summary = compaction_summary(item)
        if summary is None:
            out.append(item)
        else:
            out.append(user_message(SUMMARY_PREFIX + summary))
            changed = True
    return out if changed else None


def has_trigger(items: list[Item]) -> bool:
    return any(item.get("type") == TRIGGER for item in items)


def replace_trigger(items: list[Item]) -> list[Item]:
    """The compaction trigger becomes a user message asking for the summary."""
    return [user_message(COMPACTION_PROMPT) if i.get("type") == TRIGGER else i for i in items]


def summary_text(output: list[Item]) -> str:
    """The text of a response's message items (what the model summarized)."""
    texts = []
    for item in output:
        if item.get("type") != "message":
            continue
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "output_text":
                texts.append(str(part.get("text") or ""))
    return "\n".join(t for t in texts if t).strip()
