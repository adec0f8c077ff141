"""Helpers for the Anthropic format tests: the official SDK as the judge.

anthropic 2.11 runs on ``httpx2`` (it refuses an ``httpx.Client``), so the
mock transport comes from there. Nothing touches the network.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import streamkit
from omniroute_mitm.translators.anthropic import FORMAT
from omniroute_mitm.translators.canonical import Message, Part, Request, StreamEvent, counting_env
from shared_fixtures import FIXTURES as SHARED
from streamkit import accumulate as accumulate
from streamkit import cut

FIXTURES = SHARED / "anthropic"


Reader = Callable[[str], bytes]


def reader(fixtures_dir: Path) -> Reader:
    """Reads a recorded Anthropic body by name (``fixtures_dir`` is the
    conftest fixture, which skips when the shared fixtures are absent)."""
    return lambda name: (fixtures_dir / "anthropic" / name).read_bytes()


def fixture_names(suffix: str) -> list[str]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p.name for p in FIXTURES.glob(f"*{suffix}"))


def sdk_client(content: bytes, *, status: int = 200, stream: bool = True) -> anthropic.Anthropic:
    ctype = "text/event-stream" if stream else "application/json"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers={"content-type": ctype}, content=content)

    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="http://127.0.0.1:9",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )


def sdk_final_message(content: bytes) -> anthropic.types.Message:
    """What the SDK's stream accumulator makes of ``content``."""
    client = sdk_client(content)
    with client.messages.stream(
        model="m", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def sdk_view(message: anthropic.types.Message) -> dict[str, Any]:
    """What a user of the SDK sees: blocks, stop, usage (ids excluded)."""
    usage = message.usage
    return {
        "content": [_block_view(block) for block in message.content],
        "stop_reason": message.stop_reason,
        "stop_sequence": message.stop_sequence,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read": usage.cache_read_input_tokens or 0,
            "cache_creation": usage.cache_creation_input_tokens or 0,
        },
    }


def _block_view(block: Any) -> dict[str, Any]:
    data = block.to_dict()
    data.pop("caller", None)  # provider detail the canonical model does not carry
    return dict(data)


def decode(data: bytes, splits: list[int] | None = None) -> list[StreamEvent]:
    return streamkit.decode(FORMAT, cut(data, splits))


def encode(events: list[StreamEvent], *, model: str = "m", input_tokens: int | None = 7) -> bytes:
    return streamkit.encode(FORMAT, events, model=model, input_tokens=input_tokens)


def sse_events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, JSON payload) of every SSE event in ``data``."""
    out = []
    for chunk in data.decode().split("\n\n"):
        if not chunk.strip():
            continue
        lines = dict(line.split(": ", 1) for line in chunk.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# ------------------------------------------------------------------ requests

# A 1x1 PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E" + (
    "rkJggg=="
)
SIGNED = {"type": "thinking", "thinking": "I should list files.", "signature": "EqQBsig"}

# A request shaped like Claude Code's (see shared/CLIENTS.md), fields that
# have no canonical meaning included.
CLAUDE_CODE: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64000,
    "stream": True,
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc"},
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {
            "type": "text",
            "text": "Tools policy.",
            "cache_control": {"type": "ephemeral", "scope": "global"},
        },
    ],
    "messages": [
        {"role": "system", "content": "Deferred tools: WebFetch"},
        {"role": "user", "content": [{"type": "text", "text": "list files"}]},
        {
            "role": "assistant",
            "content": [
                SIGNED,
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [
                        {"type": "text", "text": "a.py"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                    ],
                    "is_error": False,
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "high"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "metadata": {"user_id": "user_abc"},
}


def parse(body: dict[str, Any]) -> Request:
    return FORMAT.parse_request(copy.deepcopy(body))


def render(request: Request) -> dict[str, Any]:
    return FORMAT.render_request(request, counting_env())


def user(*parts: Part) -> Message:
    return Message("user", list(parts))


def assistant(*parts: Part) -> Message:
    return Message("assistant", list(parts))
