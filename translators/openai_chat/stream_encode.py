"""Canonical stream events -> chat.completion.chunk SSE bytes."""

from __future__ import annotations

from typing import Any

from ..canonical import (
    BlockCitation,
    BlockDelta,
    BlockEnd,
    BlockStart,
    Citation,
    Env,
    Finish,
    Reasoning,
    Refusal,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    ToolCall,
)
from ..openai_errors import error_body
from ..sse import dumps
from .common import finish_reason, render_usage
from .web import render_annotation

_OPEN_CHOICE = ',"choices":[{"index":0,"delta":'
_DELTA_END = ',"logprobs":null,"finish_reason":null}]}\n\n'
_DELTA_KEYS = {"text": "content", "reasoning": "reasoning_content", "refusal": "refusal"}


class ChatStreamEncoder:
    """Writes the stream OpenAI writes: a role chunk, content / reasoning /
    refusal / tool-call deltas, a chunk with ``finish_reason``, a usage chunk
    with empty ``choices`` (the ``include_usage`` shape), then ``[DONE]``.
    Every chunk shares one id, creation time and the client's model name."""

    def __init__(
        self, env: Env, *, model: str, input_tokens: int | None = None, sse: bool = True
    ) -> None:
        self._env = env
        self._model = model
        self._head = ""  # '{"id":...,"model":...' shared by every chunk
        self._kind = ""  # kind of the open block
        self._tool_index = -1  # chat index of the open (last) tool call
        self._tools = 0
        self._custom = False  # the open tool call is a custom (freeform) one
        self._args_sent = False  # the open tool call has streamed arguments
        self._role_sent = False
        self._refused = False  # a refusal block was written
        self._ended = False  # after Finish or an error nothing more is written
        self._done_sent = False
        self._content = 0  # characters of content sent (annotations index it)
        self._text_from = 0  # where the open text block starts in it
        self._citations: list[tuple[int, Citation]] = []
        self._text_starts: list[int] = []

    def feed(self, event: StreamEvent) -> bytes:
        if self._ended:
            return b""
        if isinstance(event, BlockDelta):
            return self._delta(event.text)
        if isinstance(event, BlockStart):
            return self._start_block(event)
        if isinstance(event, BlockEnd):
            out = self._close_tool()
            self._kind = ""
            return out
        if isinstance(event, StreamStart):
            return self._start(event.created)
        if isinstance(event, Finish):
            return self._finish(event)
        if isinstance(event, BlockCitation):
            if self._kind == "text":
                self._citations.append((self._text_from, event.citation))
            return b""
        return self._error(event)

    def finish(self) -> bytes:
        if self._done_sent:
            return b""
        self._done_sent = True
        return b"data: [DONE]\n\n"

    def ping(self) -> bytes:
        return b": ping\n\n"

    # ---------------------------------------------------------------- chunks

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        return f"data: {self._head}{_OPEN_CHOICE}{dumps(delta)}{_DELTA_END}".encode()

    def _start(self, created: int | None = None) -> bytes:
        """Fix the shared chunk header. The role chunk waits for the first
        block, because OpenAI says ``content: null`` there when the answer
        is a tool call or a refusal."""
        if not self._head:
            header = {
                "id": self._env.new_id("chatcmpl-"),
                "object": "chat.completion.chunk",
                "created": created if created is not None else self._env.now(),
                "model": self._model,
            }
            self._head = dumps(header)[:-1]
        return b""

    def _role(self, first: dict[str, Any] | None = None) -> bytes:
        """The opening delta, alone (text, reasoning, nothing) or merged into
        the first tool-call / refusal delta."""
        self._start()
        if self._role_sent:
            return b""
        self._role_sent = True
        if first is None:
            return self._chunk({"role": "assistant", "content": ""})
        return self._chunk({"role": "assistant", "content": None, **first})

    def _start_block(self, event: BlockStart) -> bytes:
        lead = self._close_tool()  # in case the previous block was never ended
        part = event.part
        if isinstance(part, ToolCall):
            return lead + self._tool_call(part)
        if isinstance(part, Refusal):
            self._kind = "refusal"
            self._refused = True
            lead += self._role({"refusal": ""})
        elif isinstance(part, Reasoning | Text):
            self._kind = "reasoning" if isinstance(part, Reasoning) else "text"
            self._text_from = self._content
            self._text_starts.append(self._content)
            lead += self._role()
        else:
            self._kind = ""  # images and other providers' items: nothing to say
            return lead
        return lead + (self._delta(part.text) if part.text else b"")

    def _tool_call(self, call: ToolCall) -> bytes:
        self._kind = "tool"
        self._tools += 1
        self._tool_index = self._tools - 1
        call_id = call.id or self._env.new_id("call_")
        self._custom = call.kind == "custom"
        if self._custom:
            body = {
                "index": self._tool_index,
                "id": call_id,
                "type": "custom",
                "custom": {"name": call.name, "input": call.arguments},
            }
        else:
            body = {
                "index": self._tool_index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        self._args_sent = bool(call.arguments)
        if not self._role_sent:
            return self._role({"tool_calls": [body]})
        return self._chunk({"tool_calls": [body]})

    def _close_tool(self) -> bytes:
        """A function call that streamed no arguments still needs valid JSON:
        clients ``json.loads`` what they accumulated."""
        if self._kind != "tool":
            return b""
        self._kind = ""
        if self._args_sent or self._custom:
            return b""
        empty = {"index": self._tool_index, "function": {"arguments": "{}"}}
        return self._chunk({"tool_calls": [empty]})

    def _delta(self, text: str) -> bytes:
        if not text:
            return b""
        kind = self._kind
        if kind == "tool":
            self._args_sent = True
            field = (
                {"custom": {"input": text}} if self._custom else {"function": {"arguments": text}}
            )
            return self._chunk({"tool_calls": [{"index": self._tool_index, **field}]})
        key = _DELTA_KEYS.get(kind)
        if kind == "text":
            self._content += len(text)
        return self._chunk({key: text}) if key else b""

    def _annotations(self) -> bytes:
        """Citations in one chunk of their own before the finish, as OpenAI's
        search models send them; spans index the whole content (a citation
        without one covers its text block, up to where the next began)."""
        if not self._citations:
            return b""
        notes = []
        starts = sorted(set(self._text_starts)) + [self._content]
        for start, citation in self._citations:
            end = next(s for s in starts if s > start) if start < self._content else start
            notes.append(render_annotation(citation, start, end - start))
        return self._chunk({"annotations": notes})

    def _finish(self, event: Finish) -> bytes:
        self._ended = True
        lead = self._close_tool() + self._role() + self._annotations()
        reason = finish_reason(
            event.stop_reason, has_tool_calls=self._tools > 0, has_refusal=self._refused
        )
        end = f',"logprobs":null,"finish_reason":"{reason}"}}]}}\n\n'
        final = f"data: {self._head}{_OPEN_CHOICE}{{}}{end}"
        if event.usage is None:
            return lead + final.encode()
        usage = dumps(render_usage(event.usage))
        return (
            lead
            + final.encode()
            + f'data: {self._head},"choices":[],"usage":{usage}}}\n\n'.encode()
        )

    def _error(self, event: StreamError) -> bytes:
        """The shape OpenAI-compatible servers send; the openai SDK raises
        APIError on it instead of ending quietly."""
        self._ended = True
        return f"data: {dumps({'error': error_body(event.error)})}\n\n".encode()
