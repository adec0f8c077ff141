"""What a test scripts: one ``Reply`` per upstream request, in any format.

A ``Reply`` says what the model "answers" (text, reasoning, tool calls, usage,
stop reason) or how the provider misbehaves (an HTTP error status, an error
event in the middle of the stream, a dropped connection, a slow first byte).
The per-format renderers turn it into exactly the bytes the real provider
would send, so one script serves all four formats.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StopKind = Literal["end", "max_tokens", "tool_use"]
Fault = Literal[
    "reset",  # TCP reset before any response byte
    "empty",  # 200 with an empty body
    "error_before_content",  # the stream's preamble, then the format's error event
    "drop_after_preamble",  # the stream's preamble (or only the head), then the connection closes
    "stall_mid_stream",  # some content, then nothing for ``stall`` seconds
    "malformed_sse",  # the preamble, then bytes that are not server-sent events, then the end
    "bad_json",  # the preamble, then an event whose data is not JSON
]
FAULTS: tuple[str, ...] = (
    "reset",
    "empty",
    "error_before_content",
    "drop_after_preamble",
    "stall_mid_stream",
    "malformed_sse",
    "bad_json",
)


@dataclass
class Usage:
    """Token counts in OpenAI's arithmetic.

    ``input`` includes ``cached``; ``output`` includes ``reasoning``. Each
    renderer converts to its own format's arithmetic (Anthropic's
    ``input_tokens`` excludes cache reads, Gemini's ``candidatesTokenCount``
    excludes thoughts).
    """

    input: int = 11
    output: int = 7
    cached: int = 0
    reasoning: int = 0
    written: int = 0
    """Prompt-cache writes, inside ``input`` (only Anthropic reports them)."""
    written_1h: int = 0
    """The part of ``written`` cached for one hour (Anthropic's 1h TTL)."""

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str | None = None  # None: the renderer makes a format-typical id

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass
class Reply:
    text: str | None = None
    tool_calls: list[ToolCall | tuple[str, dict[str, Any]]] = field(default_factory=list)
    reasoning: str | None = None
    signature: str | None = None  # thinking signature / thoughtSignature / encrypted_content
    usage: Usage = field(default_factory=Usage)
    stop: StopKind | None = None  # None: "tool_use" when there are tool calls, else "end"
    model: str | None = None  # None: echo the requested model
    status: int = 200  # != 200: an error body in the format's shape
    error_message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text_deltas: list[str] | None = None  # explicit stream pieces (default: split on words)
    error_mid_stream: bool = False  # content, then the format's error event, then close
    drop_mid_stream: bool = False  # content, then close the connection without an end
    drop_connection: bool = False  # close the connection before any response
    delay_first_byte: float = 0.0  # seconds before the status line
    delay_between: float = 0.0  # seconds between stream events
    think: float = 0.0  # seconds after the stream's preamble before its first content
    fault: Fault | None = None  # a misbehaviour on demand (see FAULTS)
    stall: float = 30.0  # seconds the "stall_mid_stream" fault waits (or until the client leaves)
    cut_at: int | None = None
    """The frame at which ``drop_mid_stream`` / ``error_mid_stream`` / ``stall_mid_stream``
    strike (0 = before the first); None: half the frames. Without a stream,
    ``drop_mid_stream`` sends half the body, then closes."""
    continues: bool = False
    """A model that continues exactly: the answer is only what follows the
    request's partial assistant turn (``text`` minus that prefix, when it is one)."""
    raw_events: list[str] | None = None
    """A streamed answer's events exactly as given, instead of rendered from the
    fields above: a provider's legal but unusual stream (its own framing included)."""

    def __post_init__(self) -> None:
        self.tool_calls = [
            tc if isinstance(tc, ToolCall) else ToolCall(tc[0], tc[1]) for tc in self.tool_calls
        ]
        if isinstance(self.usage, dict):
            self.usage = Usage(**self.usage)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        data = dict(data)
        data["tool_calls"] = [
            ToolCall(**tc) if isinstance(tc, dict) else ToolCall(tc[0], tc[1])
            for tc in data.get("tool_calls", [])
        ]
        if "usage" in data:
            data["usage"] = Usage(**data["usage"])
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def bench(cls, events: int = 2000, **kw: Any) -> Reply:
        """A long text stream: ``events`` deltas (the benchmark's workload)."""
        deltas = [f"tok{i} " for i in range(events)]
        usage = kw.pop("usage", Usage(input=50, output=events))
        return cls(text="".join(deltas), text_deltas=deltas, usage=usage, **kw)

    @property
    def calls(self) -> list[ToolCall]:
        return [tc for tc in self.tool_calls if isinstance(tc, ToolCall)]

    @property
    def stop_kind(self) -> StopKind:
        if self.stop:
            return self.stop
        return "tool_use" if self.tool_calls else "end"

    def deltas(self) -> list[str]:
        if self.text_deltas is not None:
            return self.text_deltas
        return split_text(self.text or "")


def split_text(text: str) -> list[str]:
    """Split like a tokenizer would, roughly: each word with its leading space."""
    pieces = re.findall(r"\s*\S+|\s+", text)
    return pieces or ([text] if text else [])


def split_json(raw: str, parts: int = 3) -> list[str]:
    """Split a JSON text at arbitrary (not token-aligned) points, as providers do."""
    if len(raw) < parts:
        return [raw]
    step = max(1, len(raw) // parts)
    cuts = list(range(0, len(raw), step))
    return [raw[i : i + step] for i in cuts]


DEFAULT_REPLY = Reply(text="Hello from the fake provider.")
