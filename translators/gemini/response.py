"""GenerateContentResponse <-> canonical Response (non-streamed)."""

from __future__ import annotations

import hashlib
from typing import Any

from ..canonical import (
    Env,
    Media,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Response,
    Text,
    ToolCall,
    TranslationError,
    WebSearchCall,
)
from .common import (
    NAME,
    REASONING_KEY,
    STOP_TO_FINISH,
    as_dict,
    as_list,
    client_signature,
    derived_call_id,
    field,
    own_signature,
    parse_usage,
    render_usage,
    stop_reason,
)
from .parts import function_call, parse_model_parts, render_media, text_part, thought
from .web import cite_texts, fetch_parts, has_grounding, render_grounding, supports, web_parts

CANDIDATE_EXTRAS = ("groundingMetadata", "citationMetadata", "urlContextMetadata")
"""Candidate fields with no canonical meaning, kept for a Gemini client."""


def parse_response(body: dict[str, Any]) -> Response:
    if not isinstance(body, dict):
        raise TranslationError("", "the response body must be a JSON object")
    response_id = str(field(body, "responseId") or "")
    response = Response(id=response_id, model=str(field(body, "modelVersion") or ""))
    response.usage = parse_usage(field(body, "usageMetadata"))
    candidates = as_list(body.get("candidates"))
    if not candidates:
        # A blocked prompt has promptFeedback.blockReason and no candidate.
        blocked = field(as_dict(field(body, "promptFeedback")), "blockReason")
        response.stop_reason = "content_filter" if blocked else "stop"
        return response
    candidate = as_dict(candidates[0])
    parts = as_list(as_dict(candidate.get("content")).get("parts"))
    base = response_id or _digest(parts)
    response.parts = parse_model_parts(parts, lambda n: derived_call_id(base, n))
    grounding = field(candidate, "groundingMetadata")
    fetched = fetch_parts(field(candidate, "urlContextMetadata"), base)
    if has_grounding(grounding) or fetched:
        texts = [p for p in response.parts if isinstance(p, Text)]
        cite_texts(texts, supports(grounding))
        searches = web_parts(grounding, base) if has_grounding(grounding) else []
        response.parts = [*searches, *fetched, *response.parts]
        if response.usage is not None:
            response.usage.web_search_requests = sum(
                1 for p in searches if isinstance(p, WebSearchCall)
            )
    has_calls = any(isinstance(p, ToolCall) for p in response.parts)
    response.stop_reason = stop_reason(field(candidate, "finishReason"), has_calls)
    extras = {k: field(candidate, k) for k in CANDIDATE_EXTRAS if field(candidate, k)}
    if extras:
        response.meta[NAME] = extras
    return response


def _digest(parts: list[Any]) -> str:
    """Stands in for a missing responseId (there is no Env here)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def render_response(response: Response, env: Env) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": render_parts(response.parts)},
        "finishReason": STOP_TO_FINISH.get(response.stop_reason, "STOP"),
        "index": 0,
    }
    own = response.meta.get(NAME, {})
    candidate.update(own)
    if "groundingMetadata" not in own:
        grounding = render_grounding(response.parts)
        if grounding is not None:
            candidate["groundingMetadata"] = grounding
    body: dict[str, Any] = {"candidates": [candidate]}
    if response.usage is not None:
        body["usageMetadata"] = render_usage(response.usage)
    body["modelVersion"] = response.model
    body["responseId"] = response.id or env.new_id("resp_")
    return body


def render_parts(parts: list[Part]) -> list[dict[str, Any]]:
    """Model parts for a Gemini client; foreign thinking is wrapped into
    thoughtSignature (see common.REASONING_KEY for why calls carry it too)."""
    out: list[dict[str, Any]] = []
    carried: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            if part.text or own_signature(part.meta):
                out.append(text_part(part.text, part.meta))
        elif isinstance(part, Reasoning):
            sig = client_signature(part.meta)
            if part.text or sig:
                out.append(thought(part.text, sig))
            if own_signature(part.meta) is None and part.meta:
                carried.append({"text": part.text, "meta": part.meta})
        elif isinstance(part, ToolCall):
            out.append(function_call(part, call_signature(part, carried)))
            carried = []
        elif isinstance(part, Refusal):
            out.append({"text": part.text})
        elif isinstance(part, Media):
            out.append(render_media(part))
        elif isinstance(part, Opaque) and part.format == NAME:
            out.append(part.data)
    return out


def call_signature(call: ToolCall, carried: list[dict[str, Any]]) -> str | None:
    extra = {REASONING_KEY: {"parts": carried}} if carried else None
    if own_signature(call.meta) is not None:
        return own_signature(call.meta)
    return client_signature(call.meta, extra)
