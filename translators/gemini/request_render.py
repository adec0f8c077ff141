"""Canonical Request -> generateContent request body (the engine builds the URL).

Gemini is strict about history: turns alternate user/model, no part is
empty, and the user turn after a model turn with functionCalls holds exactly
one functionResponse per call, in the calls' order. Consecutive same-role
messages are merged, responses are reordered (and a missing one is answered
with an error) and a result that answers no call becomes plain text.

Images inside tool results go as inlineData parts right after the turn's
functionResponse parts: ``functionResponse.parts`` exists only in newer API
versions and models, while a trailing inline image is read by all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..canonical import (
    Env,
    Media,
    Message,
    Opaque,
    Reasoning,
    Refusal,
    Request,
    Text,
    ToolCall,
    ToolResult,
    WebFetchResult,
    WebSearchCall,
    WebSearchResults,
    reject_unknown,
)
from ..web import note
from .common import DUMMY_SIGNATURE, NAME, own_signature
from .options import generation_config, tool_config, tools
from .parts import function_call, render_media, text_part, thought


@dataclass
class _Turn:
    role: str
    parts: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)


def render_request(request: Request, env: Env) -> dict[str, Any]:
    reject_unknown(request, NAME)
    system = [t.text for t in request.system if t.text]
    builder = _History(request.warnings)
    for message in request.messages:
        if message.role == "system" and not builder.turns:
            system.extend(p.text for p in message.parts if isinstance(p, Text) and p.text)
        else:
            builder.add(message)
    body: dict[str, Any] = {"contents": builder.contents()}
    if system:
        body["systemInstruction"] = {"parts": [{"text": t} for t in system]}
    declared = tools(request)
    if declared:
        body["tools"] = declared
    forced = request.tool_choice
    if forced is not None and forced.mode == "tool":
        named = next((t for t in request.tools if t.name == forced.name), None)
        if named is not None and named.kind == "builtin":
            # Gemini cannot force its built-in tools (functionCallingConfig
            # names functions only): the model decides.
            request.warnings.append(f"gemini: tool_choice {forced.name!r} left to the model")
            forced = None
    choice = tool_config(forced)
    if choice:
        body["toolConfig"] = choice
    config = generation_config(request)
    if config:
        body["generationConfig"] = config
    native = request.meta.get(NAME, {})
    if "safetySettings" in native:
        body["safetySettings"] = native["safetySettings"]
    return body


class _History:
    def __init__(self, warnings: list[str]) -> None:
        self.turns: list[_Turn] = []
        self._warnings = warnings
        self._names: dict[str, str] = {}
        self._dropped: set[str] = set()

    def add(self, message: Message) -> None:
        if message.role == "assistant":
            turn = self._model(message)
        elif message.role == "system":
            # A mid-conversation instruction: Gemini has only user text for it.
            turn = _Turn(
                "user", [{"text": p.text} for p in message.parts if isinstance(p, Text) and p.text]
            )
        else:
            turn = self._user(message)
        if not (turn.parts or turn.calls or turn.results):
            return
        last = self.turns[-1] if self.turns else None
        if last is not None and last.role == turn.role:
            last.parts.extend(turn.parts)
            last.calls.extend(turn.calls)
            last.results.extend(turn.results)
        else:
            self.turns.append(turn)

    def _model(self, message: Message) -> _Turn:
        turn = _Turn("model")
        for part in message.parts:
            if isinstance(part, Text) and (part.text or own_signature(part.meta)):
                turn.parts.append(text_part(part.text, part.meta))
            elif isinstance(part, Refusal) and part.text:
                turn.parts.append({"text": part.text})
            elif isinstance(part, ToolCall):
                self._names[part.id] = part.name
                turn.calls.append(part)
                turn.parts.append(function_call(part, own_signature(part.meta)))
            elif isinstance(part, Reasoning):
                self._reasoning(part, turn)
            elif isinstance(part, Media):
                turn.parts.append(render_media(part))
            elif isinstance(part, Opaque):
                self._opaque(part, turn)
            elif isinstance(part, WebSearchCall | WebSearchResults | WebFetchResult):
                turn.parts.append({"text": note(part)})  # Gemini has no search history
        return turn

    def _reasoning(self, part: Reasoning, turn: _Turn) -> None:
        sig = own_signature(part.meta)
        if sig is not None:
            turn.parts.append(thought(part.text, sig))
        else:
            self._drop("reasoning from another provider (Gemini cannot verify it)")

    def _opaque(self, part: Opaque, turn: _Turn) -> None:
        if part.format == NAME:
            turn.parts.append(part.data)
        else:
            self._drop(f"{part.format} item with no Gemini equivalent")

    def _drop(self, what: str) -> None:
        if what not in self._dropped:
            self._dropped.add(what)
            self._warnings.append(f"gemini: dropped {what}")

    def _user(self, message: Message) -> _Turn:
        turn = _Turn("user")
        for part in message.parts:
            if isinstance(part, ToolResult):
                turn.results.append(part)
            elif isinstance(part, Text) and part.text:
                turn.parts.append({"text": part.text})
            elif isinstance(part, Media):
                turn.parts.append(render_media(part))
            elif isinstance(part, Opaque):
                self._opaque(part, turn)
        return turn

    def contents(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        calls: list[ToolCall] = []
        for turn in self.turns:
            if turn.role == "model":
                _sign_first_call(turn.parts)
                out.append({"role": "model", "parts": turn.parts})
                calls = turn.calls
                continue
            parts = self._answers(calls, turn.results) + turn.parts
            calls = []
            if parts:
                out.append({"role": "user", "parts": parts})
        return out

    def _answers(self, calls: list[ToolCall], results: list[ToolResult]) -> list[dict[str, Any]]:
        """One functionResponse per call, in call order, then the results'
        images; results that answer none of the calls become text."""
        matched, left = _match(calls, results)
        responses: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        for call, result in zip(calls, matched, strict=True):
            if result is None:
                self._warnings.append(
                    f"gemini: no result for call {call.id}; answered with an error"
                )
                result = ToolResult(call.id, [Text("No result was provided for this call.")], True)
            responses.append(_function_response(result, call.id, call.name))
            images.extend(render_media(p) for p in result.content if isinstance(p, Media))
        orphans = [part for result in left for part in self._orphan(result)]
        return responses + images + orphans

    def _orphan(self, result: ToolResult) -> list[dict[str, Any]]:
        self._warnings.append(f"gemini: result {result.call_id} answers no call; sent as text")
        name = result.name or self._names.get(result.call_id, "tool")
        text = _result_text(result) or "(empty)"
        label = "error" if result.is_error else "result"
        media = [render_media(p) for p in result.content if isinstance(p, Media)]
        return [{"text": f"[{name} {label}]\n{text}"}, *media]


def _match(
    calls: list[ToolCall], results: list[ToolResult]
) -> tuple[list[ToolResult | None], list[ToolResult]]:
    """Each call's result (by id, else by tool name), and the unmatched rest."""
    left = list(results)
    matched: list[ToolResult | None] = []
    for call in calls:
        found = next((r for r in left if r.call_id == call.id), None)
        if found is not None:
            left.remove(found)
        matched.append(found)
    for i, call in enumerate(calls):
        if matched[i] is None:
            found = next((r for r in left if r.name == call.name), None)
            if found is not None:
                left.remove(found)
                matched[i] = found
    return matched, left


def _result_text(result: ToolResult) -> str:
    return "\n".join(p.text for p in result.content if isinstance(p, Text))


def _function_response(result: ToolResult, call_id: str, name: str) -> dict[str, Any]:
    key = "error" if result.is_error else "output"
    body: dict[str, Any] = {"name": name, "response": {key: _result_text(result)}}
    if call_id:
        body = {"id": call_id, **body}
    return {"functionResponse": body}


def _sign_first_call(parts: list[dict[str, Any]]) -> None:
    """Gemini 3 rejects a turn whose first functionCall lacks the signature it
    was issued with; for calls that no Gemini issued, Google documents this
    placeholder (Gemini CLI does the same)."""
    for part in parts:
        if "functionCall" in part:
            part.setdefault("thoughtSignature", DUMMY_SIGNATURE)
            return
