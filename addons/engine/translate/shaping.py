"""A request body shaped for its target: a passed-through body with only
what must change (model, max_tokens cap, chat stream usage)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omniroute_mitm.engine.core.calls import dumps
from omniroute_mitm.engine.core.endpoints import Continuation
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.translators import Env, WireFormat, estimate_tokens, web
from omniroute_mitm.translators.canonical import Message, Part, Request, Text
from omniroute_mitm.translators.openai_chat import request_render as chat_render
from omniroute_mitm.translators.openai_responses import request_render as responses_render
from omniroute_mitm.translators.rendered import RenderMemo
from omniroute_mitm.translators.stream import custom_tool_names

from . import thinking
from .memo import MessageMemo
from .thinking import ThoughtCache, needs_cache

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class Asked:
    """What the client asked, as the request shaping needs it."""

    parsed: dict[str, Any] | Callable[[], dict[str, Any]]
    """The body parsed, or how to parse it (a passed-through body is not)."""
    body_bytes: bytes
    url_model: str | None
    """The model named in the URL (Gemini), else None."""
    url_stream: bool | None
    stream: bool
    top: TopLevel | None = None
    """The body's top level, when the exchange split it instead of parsing it."""

    @property
    def body(self) -> dict[str, Any]:
        return self.parsed() if callable(self.parsed) else self.parsed


@dataclass(slots=True)
class Shaped:
    """The provider's request body and what goes with it."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    """Headers the body needs (``anthropic-beta``: not a credential)."""
    input_tokens: int | None = None
    """The estimated prompt size (streams report it before the provider does)."""
    custom_tools: frozenset[str] = frozenset()
    """Freeform tools the provider sees as functions."""
    warnings: list[str] = field(default_factory=list)
    trimmed: str = ""
    """Whitespace trimmed off the end of a continuation's prefill."""
    prefix: str = ""
    """The text a prefix continuation hands over (the answer may open by repeating it)."""


def shape_request(
    client: WireFormat,
    provider: WireFormat,
    asked: Asked,
    *,
    model: str,
    cap: int | None,
    issuer: str,
    thoughts: ThoughtCache,
    env: Env,
    beta: str | None,
    partial: list[Part] | None = None,
    how: Continuation = "instruction",
    memo: MessageMemo | None = None,
) -> Shaped:
    """The body for ``provider``: the client's own bytes with only what must
    change when both speak one format, else translated (signatures only go
    back to their ``issuer``). ``partial``: a continuation's request, the
    conversation plus what the client already received (always translated),
    handed over as ``how`` says; ``memo``: messages parsed in earlier requests."""
    if provider.name == client.name and partial is None:
        body = passthrough_body(client.name, asked, model, cap, issuer)
        return Shaped(body, {"anthropic-beta": beta} if beta else {})
    request = parse_request(client, asked, memo)
    remembered = memo is not None and memo.remembered(request) and partial is None
    request.model, request.stream = model, asked.stream
    if cap is not None:
        request.max_tokens = min(request.max_tokens or cap, cap)
    # (a continuation's stream goes on in the client's: its start, with the estimate, went out)
    counted = memo.rendered if remembered and memo is not None else None
    input_tokens = estimate_tokens(request, counted) if asked.stream and partial is None else None
    custom = custom_tool_names(request)
    for_target(request, client, provider, issuer, thoughts)
    trimmed = with_partial_turn(request, how, partial) if partial is not None else ""
    if remembered and memo is not None and provider.name in RENDERED:
        rendered, body = render_remembered(provider.name, request, env, memo.rendered)
    else:
        rendered = provider.render_request(request, env)
        body = None
    prefix = mark_prefix(rendered) if partial is not None and how == "prefix" else ""
    headers = {"anthropic-beta": beta} if beta and provider.name == client.name else {}
    if provider.name == "anthropic" and client.name != "anthropic":
        betas = web.anthropic_betas(rendered)
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
    return Shaped(body or dumps(rendered), headers, input_tokens, custom, list(request.warnings),
                  trimmed=trimmed, prefix=prefix)  # fmt: skip


RENDERED: dict[str, tuple[Callable[[Request, Env, RenderMemo], dict[str, Any]], str]] = {
    "openai-chat": (chat_render.render_request, "messages"),
    "openai-responses": (responses_render.render_request, "input"),
}
"""The targets whose messages are rendered with a memo, and the member
holding them."""


def render_remembered(
    fmt: str, request: Request, env: Env, memo: RenderMemo
) -> tuple[dict[str, Any], bytes]:
    """The body for ``fmt`` and its bytes, the messages rendered and encoded
    in earlier requests taken from ``memo`` (a rendered body is then never
    changed: its messages may be remembered)."""
    render, member = RENDERED[fmt]
    memo.unplace()
    rendered = render(request, env, memo)
    try:
        return rendered, memo.dumps(rendered, member)
    except TypeError:  # (what orjson refuses: encoded whole, as without the memo)
        return rendered, dumps(rendered)


def parse_request(client: WireFormat, asked: Asked, memo: MessageMemo | None) -> Request:
    """The client's request in canonical form, its messages from ``memo``
    where seen before when the body was not parsed yet (its bytes are then
    what the client sent; a parsed body may have been changed since)."""
    if memo is not None and callable(asked.parsed):
        top = asked.top if asked.top is not None else TopLevel.split(asked.body_bytes)
        if top is not None:
            request = memo.parse_request(
                client, top, model=asked.url_model, stream=asked.url_stream
            )
            if request is not None:
                return request
    return client.parse_request(asked.body, model=asked.url_model, stream=asked.url_stream)


def for_target(
    request: Request, client: WireFormat, provider: WireFormat, issuer: str, thoughts: ThoughtCache
) -> None:
    """Thinking the client could not carry put back (from the cache), and
    signatures only where they go back to their ``issuer`` (in place)."""
    if needs_cache(client.name, provider.name):
        thoughts.restore(provider.name, request.messages)
    thinking.keep_own(request.messages, provider.name, issuer)


CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stopped: do not "
    "repeat anything already written and do not comment on the interruption."
)


def with_partial_turn(request: Request, how: Continuation, partial: list[Part]) -> str:
    """Append what the client already received as the assistant's partial
    turn. ``prefill`` (Anthropic): the model goes on from it, which may not
    end in whitespace (the whitespace trimmed off is returned); ``prefix``:
    the same, marked by :func:`mark_prefix` once rendered; ``instruction``:
    the partial turn and a user turn asking to go on."""
    parts = list(partial)
    trimmed = ""
    if how == "prefill":
        if parts and isinstance(parts[-1], Text):
            text = parts[-1].text
            kept = text.rstrip()
            trimmed = text[len(kept) :]
            parts[-1] = Text(kept)
            if not kept:
                parts.pop()
        request.reasoning = None  # a prefill cannot follow thinking it has no signature for
    if parts:
        request.messages.append(Message("assistant", parts))
    if how == "instruction":
        request.messages.append(Message("user", [Text(CONTINUE_INSTRUCTION)]))
    return trimmed


def mark_prefix(rendered: dict[str, Any]) -> str:
    """A rendered Chat request whose last message is the partial answer gets
    ``"prefix": true`` on it (DeepSeek, Mistral: the model writes on from that
    text; see engine.core.endpoints.PREFIX_HOSTS). Returns the prefix text
    ("" when nothing of the answer is text: asked anew, as a prefill would be)."""
    messages = rendered.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return ""
    content = last.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    if not isinstance(content, str) or not content:
        return ""
    last["prefix"] = True
    return content


MAX_TOKENS_FIELDS = {
    "anthropic": ("max_tokens",),
    "openai-chat": ("max_tokens", "max_completion_tokens"),
    "openai-responses": ("max_output_tokens",),
}


def passthrough_body(
    fmt: str, asked: Asked, model: str, cap: int | None, issuer: str | None = None
) -> bytes:
    """The client's own bytes when nothing must change; else its body with
    the changes, encoded once: the model, a capped max_tokens, chat's stream
    usage, and only the signatures ``issuer`` gave. A body the exchange only
    split (:class:`TopLevel`) is written back from its members' bytes, its
    signatures unwrapped in place (:func:`thinking.outbound_raw`); one whose
    signatures the bytes cannot settle is parsed once and walked
    (:func:`thinking.outbound_object`)."""
    if asked.top is not None:
        body = _from_top(fmt, asked, asked.top, model, cap, issuer)
        if body is not None:
            return body
    changes = _changes(fmt, asked, asked.body, model, cap)
    walked = None
    if issuer is not None:
        walked = thinking.outbound_object(fmt, issuer, asked.body, asked.body_bytes)
    if not changes and walked is None:
        return asked.body_bytes
    return dumps({**(asked.body if walked is None else walked), **changes})


def _changes(
    fmt: str, asked: Asked, body: Mapping[str, Any], model: str, cap: int | None
) -> dict[str, Any]:
    """The top-level members of a passed-through body that must change."""
    changes = capped_max_tokens(fmt, body, cap)
    if asked.url_model is None and body.get("model") != model:
        changes["model"] = model  # (Gemini names the model in the URL)
    options = body.get("stream_options")
    options = options if isinstance(options, dict) else {}
    if fmt == "openai-chat" and asked.stream and options.get("include_usage") is not True:
        # Without it a chat stream carries no usage at all (a row of zeros);
        # the client then also sees the usage chunk (choices: []), valid OpenAI wire.
        changes["stream_options"] = {**options, "include_usage": True}
    return changes


def _from_top(
    fmt: str, asked: Asked, top: TopLevel, model: str, cap: int | None, issuer: str | None
) -> bytes | None:
    """:func:`passthrough_body` from the members' bytes; None when the
    signatures need the parsed body."""
    changes = _changes(fmt, asked, top, model, cap)
    raws: dict[str, bytes] = {}
    if issuer is not None:
        unwrapped = thinking.outbound_raw(fmt, issuer, top, asked.body_bytes)
        if unwrapped is None:
            return None
        raws = unwrapped
    if not changes and not raws:
        return asked.body_bytes
    return top.encode(changes, raws)


def capped_max_tokens(fmt: str, body: Mapping[str, Any], cap: int | None) -> dict[str, Any]:
    """The top-level fields of a passed-through body that exceed ``cap``,
    lowered to it (Gemini's limit sits in generationConfig)."""
    if cap is None:
        return {}
    if fmt == "gemini":
        config = body.get("generationConfig")
        if isinstance(config, dict) and _over(config.get("maxOutputTokens"), cap):
            return {"generationConfig": {**config, "maxOutputTokens": cap}}
        return {}
    return {f: cap for f in MAX_TOKENS_FIELDS.get(fmt, ()) if _over(body.get(f), cap)}


def _over(value: Any, cap: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > cap
