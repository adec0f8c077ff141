"""Responses response body <-> canonical Response."""

from __future__ import annotations

from typing import Any

from ..canonical import (
    Env,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Response,
    Text,
    ToolCall,
    TranslationError,
    WebSearchCall,
    WebSearchResults,
)
from .common import (
    FAILED_ERROR,
    NAME,
    as_dict,
    as_list,
    foreign_meta,
    join_summary,
    message_item,
    own_meta,
    reasoning_item,
    refusal_part,
    status_for_stop,
    stop_from_wire,
    text_part,
    tool_call_carrier,
    tool_call_item,
    usage_from_wire,
    usage_to_wire,
)
from .web import call_item, is_search, parse_annotations, render_annotation
from .web import parse_item as parse_web_item

# ------------------------------------------------------------------------- parse


def parse_response(body: dict[str, Any]) -> Response:
    if not isinstance(body, dict):
        raise TranslationError("", "response body must be a JSON object")
    parts: list[Part] = []
    for item in as_list(body.get("output")):
        if isinstance(item, dict):
            parts.extend(parse_output_item(item))
    created = body.get("created_at")
    has_call = any(isinstance(p, ToolCall) for p in parts)
    has_refusal = any(isinstance(p, Refusal) for p in parts)
    usage = usage_from_wire(body.get("usage"))
    searches = sum(1 for p in parts if is_search(p))
    if usage is not None and searches:
        usage.web_search_requests = searches  # Responses counts calls, not in usage
    return Response(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop_from_wire(
            body.get("status"), body.get("incomplete_details"), has_call, has_refusal
        ),
        usage=usage,
        created=int(created) if isinstance(created, int | float) else None,
    )


def parse_output_item(item: dict[str, Any]) -> list[Part]:
    """One output item -> canonical parts (a message may hold several)."""
    kind = item.get("type")
    if kind == "message":
        return _message_parts(item)
    if kind in ("function_call", "custom_tool_call"):
        return [call_from_item(item)]
    if kind == "reasoning":
        return [reasoning_from_item(item)]
    if kind == "web_search_call":
        return parse_web_item(item)
    return [Opaque(NAME, dict(item))]


def _message_parts(item: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    for part in as_list(item.get("content")):
        part = as_dict(part)
        if part.get("type") == "refusal":
            parts.append(Refusal(str(part.get("refusal") or "")))
        elif "text" in part:
            citations = parse_annotations(part.get("annotations"))
            parts.append(Text(str(part.get("text") or ""), citations=citations))
    return parts


def call_from_item(item: dict[str, Any]) -> ToolCall:
    own = {k: item[k] for k in ("id", "namespace") if isinstance(item.get(k), str)}
    custom = item.get("type") == "custom_tool_call"
    arguments = item.get("input") if custom else item.get("arguments")
    return ToolCall(
        id=str(item.get("call_id") or item.get("id") or ""),
        name=str(item.get("name") or ""),
        arguments=arguments if isinstance(arguments, str) else "",
        kind="custom" if custom else "function",
        meta={NAME: own} if own else {},
    )


def reasoning_meta(item: dict[str, Any]) -> dict[str, Any]:
    """Our meta on a reasoning part: what is needed to send the item back."""
    own: dict[str, Any] = {"summary": as_list(item.get("summary"))}
    if isinstance(item.get("id"), str):
        own["id"] = item["id"]
    if isinstance(item.get("encrypted_content"), str):
        own["encrypted_content"] = item["encrypted_content"]
    if item.get("content"):
        own["content"] = item["content"]
    return own


def reasoning_from_item(item: dict[str, Any]) -> Reasoning:
    text = join_summary(as_list(item.get("summary"))) or join_summary(as_list(item.get("content")))
    return Reasoning(text, meta={NAME: reasoning_meta(item)})


# ------------------------------------------------------------------------ render


def render_response(response: Response, env: Env) -> dict[str, Any]:
    status, incomplete = status_for_stop(response.stop_reason)
    body = response_object(
        response_id(response.id, env),
        response.model,
        response.created if response.created is not None else env.now(),
        status,
    )
    parts = response.parts
    if response.stop_reason == "refusal" and not any(isinstance(p, Refusal) for p in parts):
        # Responses says "refused" only with a refusal part.
        parts = [*parts, Refusal("")]
    body["output"] = _OutputRenderer(env, status).render(parts)
    body["incomplete_details"] = incomplete
    if status == "failed":
        body["error"] = dict(FAILED_ERROR)
    body["usage"] = usage_to_wire(response.usage)
    return body


def response_id(source: str | None, env: Env) -> str:
    """A Responses id is a stored response's key (``previous_response_id``):
    another format's message id (not unique everywhere) gets a fresh one."""
    return source if source and source.startswith("resp_") else env.new_id("resp_")


def response_object(resp_id: str, model: str, created: int, status: str) -> dict[str, Any]:
    """The response object as the API sends it (the SDK requires the request
    echo fields: parallel_tool_calls, tool_choice, tools)."""
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "truncation": "disabled",
        "usage": None,
        "metadata": {},
    }


class _OutputRenderer:
    """Canonical parts -> output items; consecutive text and refusal parts
    share one message item, as the API sends them."""

    def __init__(self, env: Env, status: str) -> None:
        self.env = env
        self.status = "incomplete" if status == "incomplete" else "completed"
        self.items: list[dict[str, Any]] = []
        self._content: list[dict[str, Any]] = []

    def render(self, parts: list[Part]) -> list[dict[str, Any]]:
        for i, part in enumerate(parts):
            if isinstance(part, Text):
                content = text_part(part.text)
                size = len(part.text)
                content["annotations"] = [render_annotation(c, size) for c in part.citations]
                self._content.append(content)
            elif isinstance(part, WebSearchCall):
                following = parts[i + 1] if i + 1 < len(parts) else None
                found = following if isinstance(following, WebSearchResults) else None
                if found is not None and found.call_id != part.id:
                    found = None
                self._flush()
                self.items.append(call_item(part, found, self.env))
            elif isinstance(part, Refusal):
                self._content.append(refusal_part(part.text))
            else:
                self._other(part)
        self._flush()
        return self.items

    def _flush(self) -> None:
        if self._content:
            item_id = self.env.new_id("msg_")
            self.items.append(message_item(item_id, self._content, self.status))
            self._content = []

    def _other(self, part: Part) -> None:
        if isinstance(part, Reasoning):
            self._flush()
            item_id = own_meta(part.meta).get("id") or self.env.new_id("rs_")
            self.items.append(reasoning_item(item_id, part))
        elif isinstance(part, ToolCall):
            self._flush()
            item_id = own_meta(part.meta).get("id") or self.env.new_id(_call_prefix(part))
            self.items.append(tool_call_item(item_id, part, "completed"))
            foreign = foreign_meta(part.meta)
            if foreign is not None:
                self.items.append(tool_call_carrier(self.env.new_id("rs_"), part, foreign))
        elif isinstance(part, Opaque) and part.format == NAME:
            self._flush()
            self.items.append(dict(part.data))


def _call_prefix(call: ToolCall) -> str:
    return "ctc_" if call.kind == "custom" else "fc_"
