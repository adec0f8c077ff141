"""Canonical Request -> Responses request body.

Items are sent without their ids, as Codex does: with ``store: false`` the ids
refer to nothing, and an id'd reasoning item whose neighbours lost their ids
(a turn that went through another provider) is rejected ("provided without its
required following item"). Reasoning goes back only as this format issued it
(``encrypted_content``); other providers' thinking cannot be sent here.
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
    Request,
    Text,
    ToolCall,
    ToolResult,
    WebFetchResult,
    WebSearchCall,
    WebSearchResults,
    reject_unknown,
)
from ..rendered import RenderMemo, Run
from ..web import note
from .common import NAME, as_dict, as_list, own_meta
from .content import render_media, render_tool_output
from .options_render import (
    render_passthrough,
    render_reasoning,
    render_sampling,
    render_text,
    render_tool_choice,
    render_tools,
)

ENCRYPTED_REASONING = "reasoning.encrypted_content"


def render_request(request: Request, env: Env, memo: RenderMemo | None = None) -> dict[str, Any]:
    """``memo``: messages rendered in earlier requests (translators.rendered)."""
    run = memo.run(NAME, None, request.messages) if memo is not None else None
    reject_unknown(request, NAME, run.taken if run is not None else 0)
    body: dict[str, Any] = {"model": request.model}
    items: list[dict[str, Any]] = []
    if len(request.system) == 1:
        body["instructions"] = request.system[0].text
    elif request.system:
        items.append(_instruction([t.text for t in request.system]))
    renderer = _ItemRenderer(request.warnings)
    if memo is None or run is None:
        for message in request.messages:
            renderer.message(message)
    else:
        renderer.messages_with(memo, run, len(items))
    body["input"] = items + renderer.items
    tools = render_tools(request.tools, request.warnings)
    if tools:
        body["tools"] = tools
        choice = render_tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    render_sampling(request, body)
    reasoning = render_reasoning(request)
    if reasoning is not None:
        body["reasoning"] = reasoning
    text = render_text(request)
    if text is not None:
        body["text"] = text
    render_passthrough(request, body)
    body["store"] = request.store is True
    _include_encrypted(request, body, renderer.sent_reasoning)
    _include_sources(request, body)
    body["stream"] = request.stream
    return body


SOURCES = "web_search_call.action.sources"


def _include_sources(request: Request, body: dict[str, Any]) -> None:
    """Another format's search tool: ask for the searches' sources, which
    its client reads as search results (Responses sends none otherwise)."""
    if not any(t.server is not None and NAME not in t.meta for t in request.tools):
        return
    include = [str(x) for x in as_list(body.get("include"))]
    if SOURCES not in include:
        include.append(SOURCES)
    body["include"] = include


def _include_encrypted(request: Request, body: dict[str, Any], sent_reasoning: bool) -> None:
    """Without storage, the next turn can only replay reasoning the response
    carried encrypted: ask for it whenever the model may reason."""
    reasoning_on = request.reasoning is not None and request.reasoning.enabled
    if body["store"] or not (reasoning_on or sent_reasoning):
        return
    include = [str(x) for x in as_list(body.get("include"))]
    if ENCRYPTED_REASONING not in include:
        include.append(ENCRYPTED_REASONING)
    body["include"] = include


def _instruction(texts: list[str]) -> dict[str, Any]:
    content = [{"type": "input_text", "text": text} for text in texts]
    return {"type": "message", "role": "developer", "content": content}


class _ItemRenderer:
    def __init__(self, warnings: list[str]) -> None:
        self.items: list[dict[str, Any]] = []
        self.warnings = warnings
        self.sent_reasoning = False
        self._content: list[dict[str, Any]] = []
        self._role = "user"

    def messages_with(self, memo: RenderMemo, run: Run, start: int) -> None:
        """The messages, those the last request rendered alike taken from
        ``memo`` (their items go into the body from ``start``). A message
        reads nothing of the ones before it (its content is flushed at its
        end); the state after it is whether reasoning was sent so far."""
        warned, messages = len(self.warnings), run.messages
        items, warnings, state = run.lead()
        self.items += items
        self.warnings += warnings
        self.sent_reasoning = state is not None and state[0]
        for message in messages[run.taken :]:
            self.message(message)
            run.end(len(self.items), len(self.warnings) - warned, (self.sent_reasoning,), False)
        memo.place(start, run.finish(list(self.items), self.warnings[warned:]))

    def message(self, message: Message) -> None:
        if message.role == "system":
            texts = [p.text for p in message.parts if isinstance(p, Text)]
            if texts:
                self.items.append(_instruction(texts))
            return
        self._role = message.role
        handle = self._assistant_part if message.role == "assistant" else self._user_part
        for part in message.parts:
            handle(part)
        self._flush()

    def _flush(self) -> None:
        if self._content:
            self.items.append({"type": "message", "role": self._role, "content": self._content})
            self._content = []

    def _item(self, item: dict[str, Any]) -> None:
        self._flush()
        self.items.append(item)

    def _user_part(self, part: Part) -> None:
        if isinstance(part, Text | Refusal):
            self._content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, Media):
            rendered = render_media(part)
            if rendered is not None:
                self._content.append(rendered)
        elif isinstance(part, ToolResult):
            self._item(_tool_result(part, self.warnings))
        elif isinstance(part, Opaque) and part.format == NAME:
            self._item(dict(part.data))
        # Reasoning and tool calls have no place in a user turn.

    def _assistant_part(self, part: Part) -> None:
        if isinstance(part, Text):
            self._content.append({"type": "output_text", "text": part.text})
        elif isinstance(part, Refusal):
            self._content.append({"type": "refusal", "refusal": part.text})
        elif isinstance(part, ToolCall):
            self._item(_tool_call(part))
        elif isinstance(part, Reasoning):
            self._reasoning(part)
        elif isinstance(part, Opaque) and part.format == NAME:
            self._item(dict(part.data))
        elif isinstance(part, WebSearchCall | WebSearchResults | WebFetchResult):
            self._web(part)
        elif isinstance(part, Media):
            self.warnings.append("media in an assistant turn cannot be sent to Responses")

    def _web(self, part: WebSearchCall | WebSearchResults | WebFetchResult) -> None:
        """A search Responses ran goes back as its item; another provider's
        (or its results) as words the model can read."""
        own = as_dict(part.meta.get(NAME))
        if isinstance(own.get("item"), dict):
            self._item(dict(own["item"]))
        elif not own.get("in_item"):  # (sources already in their call's item)
            self._content.append({"type": "output_text", "text": note(part)})

    def _reasoning(self, part: Reasoning) -> None:
        own = own_meta(part.meta)
        encrypted = own.get("encrypted_content")
        if not isinstance(encrypted, str) or not encrypted:
            if part.text or part.meta:
                self.warnings.append("reasoning not issued by openai-responses: dropped")
            return
        summary = own.get("summary")
        if not isinstance(summary, list):
            summary = [{"type": "summary_text", "text": part.text}] if part.text else []
        self.sent_reasoning = True
        self._item({"type": "reasoning", "summary": summary, "encrypted_content": encrypted})


def _tool_call(call: ToolCall) -> dict[str, Any]:
    if call.kind == "custom":
        item = {"type": "custom_tool_call", "call_id": call.id, "name": call.name}
        item["input"] = call.arguments
    else:
        item = {"type": "function_call", "call_id": call.id, "name": call.name}
        item["arguments"] = call.arguments or "{}"
    namespace = own_meta(call.meta).get("namespace")
    if isinstance(namespace, str):
        item["namespace"] = namespace
    return item


def _tool_result(result: ToolResult, warnings: list[str]) -> dict[str, Any]:
    if result.is_error:
        warnings.append("Responses tool outputs have no error flag: said in words")
    kind = "custom_tool_call_output" if result.kind == "custom" else "function_call_output"
    return {"type": kind, "call_id": result.call_id, "output": render_tool_output(result)}
