"""Canonical Request -> a Chat Completions request body."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Any

from .. import freeform
from ..canonical import (
    Env,
    Media,
    Message,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Request,
    Text,
    ToolCall,
    ToolResult,
    error_in_words,
    reject_unknown,
)
from ..rendered import Draws, RenderMemo, Run
from .common import NAME, REASONING_FIELDS, data_url
from .options_render import native_custom, render_options
from .response import render_tool_call

_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


def render_request(request: Request, env: Env, memo: RenderMemo | None = None) -> dict[str, Any]:
    """``memo``: messages rendered in earlier requests (translators.rendered)."""
    renderer = _MessagesRenderer(request, env, memo)
    reject_unknown(request, NAME, renderer.run.taken if renderer.run is not None else 0)
    body: dict[str, Any] = {"model": request.model}
    body["messages"] = renderer.render()
    render_options(request, body)
    return body


class _MessagesRenderer:
    """Canonical messages -> chat messages. Tool results become ``tool``
    messages right after the assistant turn that called them; whatever a
    tool message cannot hold (images, files) follows in one user message
    after the whole run of tool messages."""

    def __init__(self, request: Request, env: Env, memo: RenderMemo | None = None) -> None:
        self.request = request
        self.env = env
        self.memo = memo
        self.out: list[dict[str, Any]] = []
        self.call_ids: set[str] = set()
        self.added: list[str] = []  # the calls' ids in order (what a message adds)
        self.pending: list[dict[str, Any]] = []  # user content waiting for the tool run to end
        self.native_custom = native_custom(request)
        self.run = None if memo is None else memo.run(NAME, self.native_custom, request.messages)

    def render(self) -> list[dict[str, Any]]:
        if self.request.system:
            role = self.request.system[0].meta.get(NAME, {}).get("role", "system")
            self.out.append({"role": role, "content": _join(self.request.system)})
        if self.memo is None or self.run is None:
            for i, message in enumerate(self.request.messages):
                self._message(message, i)
        else:
            self._messages_with(self.memo, self.run)
        self._flush([])
        return self.out

    def _message(self, message: Message, i: int) -> None:
        if message.role == "system":
            self._system(message, i)
        elif message.role == "assistant":
            self._assistant(message, i)
        else:
            self._user(message, i)

    def _messages_with(self, memo: RenderMemo, run: Run) -> None:
        """The messages, those the last request rendered alike taken from
        ``memo``. A message reads of the ones before it the calls seen so far
        (its results' warnings) and the held-back content (a message's end
        with some is not a place to start from); ``native_custom`` is the
        context; the state after a message is the calls' ids so far."""
        messages, start, warned = self.request.messages, len(self.out), len(self.request.warnings)
        items, warnings, state = run.lead()
        self.out += items
        self.request.warnings += warnings
        if state is not None:
            self.added = state[0][: state[1]]
            self.call_ids = set(self.added)
        draws = Draws(self.env)
        self.env = draws.wrapped
        for i in range(run.taken, len(messages)):
            drawn = draws.drawn
            self._message(messages[i], i)
            after = None if self.pending else (self.added, len(self.added))
            run.end(len(self.out) - start, len(self.request.warnings) - warned, after,
                    draws.drawn != drawn)  # fmt: skip
        self.env = draws.env
        memo.place(start, run.finish(self.out[start:], self.request.warnings[warned:]))

    def _warn(self, where: int, what: str) -> None:
        self.request.warnings.append(f"openai-chat: messages[{where}]: {what}")

    def _flush(self, content: list[dict[str, Any]]) -> None:
        """Emit held-back user content (with ``content``) as one user message."""
        content = self.pending + content
        self.pending = []
        if not content:
            return
        if len(content) == 1 and content[0]["type"] == "text":
            self.out.append({"role": "user", "content": content[0]["text"]})
        else:
            self.out.append({"role": "user", "content": content})

    def _system(self, message: Message, where: int) -> None:
        self._flush([])
        texts = [p for p in message.parts if isinstance(p, Text)]
        if len(texts) != len(message.parts):
            self._warn(where, "non-text parts of a system message dropped")
        role = message.meta.get(NAME, {}).get("role", "system")
        self.out.append({"role": role, "content": _join(texts)})

    def _user(self, message: Message, where: int) -> None:
        content: list[dict[str, Any]] = []
        has_results = False
        for part in message.parts:
            if isinstance(part, ToolResult):
                has_results = True
                self.out.append(self._tool_message(part, where))
            else:
                rendered = self._user_part(part, where)
                if rendered is not None:
                    content.append(rendered)
        if content or not has_results:
            if not content and not self.pending:
                content = [{"type": "text", "text": ""}]  # keep the (empty) turn
            self._flush(content)

    def _tool_message(self, result: ToolResult, where: int) -> dict[str, Any]:
        if result.call_id not in self.call_ids:
            self._warn(where, f"tool result {result.call_id!r} has no earlier tool call")
        content = error_in_words(result)  # chat has no error flag
        texts = [p.text for p in content if isinstance(p, Text)]
        media = [p for p in content if isinstance(p, Media)]
        text = "\n".join(texts)
        if media:
            self._warn(where, f"files of tool result {result.call_id!r} sent in a user message")
            noun = "images" if all(m.is_image for m in media) else "files"
            self.pending.append(
                {"type": "text", "text": f"({noun} returned by tool call {result.call_id})"}
            )
            for item in media:
                rendered = self._media(item, where)
                if rendered is not None:
                    self.pending.append(rendered)
            text = text or f"({noun} follow in the next message)"
        return {"role": "tool", "tool_call_id": result.call_id, "content": text}

    def _user_part(self, part: Part, where: int) -> dict[str, Any] | None:
        if isinstance(part, Text):
            return {"type": "text", "text": part.text}
        if isinstance(part, Media):
            return self._media(part, where)
        if isinstance(part, Opaque) and part.format == NAME:
            return dict(part.data)
        self._warn(where, f"{type(part).__name__} part in a user message dropped")
        return None

    def _media(self, media: Media, where: int) -> dict[str, Any] | None:
        if media.is_image:
            image: dict[str, Any] = {"url": media.url or data_url(media)}
            if media.detail:
                image["detail"] = media.detail
            return {"type": "image_url", "image_url": image}
        if media.data is None:
            why = "by URL (chat takes only inline files)"
            return self._omitted(media, where, why)
        if media.media_type.startswith("audio/"):
            fmt = _AUDIO_FORMATS.get(media.media_type)
            if fmt is None:
                return self._omitted(media, where, "(chat takes wav or mp3 audio)")
            return {"type": "input_audio", "input_audio": {"data": media.data, "format": fmt}}
        if media.media_type.startswith("text/"):
            text = _decode_text(media.data)
            if text is not None:
                return {"type": "text", "text": text}
        filename = media.filename or "document." + media.media_type.rpartition("/")[2]
        return {"type": "file", "file": {"file_data": data_url(media), "filename": filename}}

    def _omitted(self, media: Media, where: int, why: str) -> dict[str, Any]:
        """An attachment chat cannot take: a note in its place, in the same
        words as for every other target (the model knows something is missing)."""
        self._warn(where, f"{media.media_type} {why} replaced by a note")
        return {"type": "text", "text": media.omitted_note()}

    def _assistant(self, message: Message, where: int) -> None:
        self._flush([])
        texts: list[str] = []
        refusals: list[str] = []
        reasoning: list[str] = []
        field = REASONING_FIELDS[0]
        calls: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, Text):
                texts.append(part.text)
            elif isinstance(part, Refusal):
                refusals.append(part.text)
            elif isinstance(part, ToolCall):
                calls.append(self._tool_call(part))
            elif isinstance(part, Reasoning) and NAME in part.meta:
                reasoning.append(part.text)
                field = part.meta[NAME].get("field", field)
            elif isinstance(part, Reasoning):
                # Another provider's thinking is not ours to replay.
                self._warn(where, "reasoning from another provider dropped")
            else:
                self._warn(where, f"{type(part).__name__} part in an assistant message dropped")
        out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
        if out["content"] is None and not calls:
            out["content"] = ""
        if refusals:
            out["refusal"] = "".join(refusals)
        if any(reasoning):
            out[field if field in REASONING_FIELDS else REASONING_FIELDS[0]] = "".join(reasoning)
        if calls:
            out["tool_calls"] = calls
        self.out.append(out)

    def _tool_call(self, call: ToolCall) -> dict[str, Any]:
        if call.kind == "custom" and not self.native_custom:  # a function there (freeform.py)
            call = replace(call, kind="function", arguments=freeform.as_arguments(call.arguments))
        rendered = render_tool_call(call, self.env)
        self.call_ids.add(rendered["id"])
        self.added.append(rendered["id"])
        return rendered


def _join(texts: list[Text]) -> str:
    """System text as one string: Groq and several vLLM chat templates accept
    nothing else for system messages."""
    return "\n\n".join(t.text for t in texts)


def _decode_text(data: str) -> str | None:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
