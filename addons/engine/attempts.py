"""Attempts: one try of a request against one provider account, or native.

Each knows how to run itself into the :class:`ClientReply` and raises an
:class:`UpstreamError` when it failed before content reached the client (the
fallback loop then classifies it). ``run`` returns the response headers of a
success (rate-limit headers for quota awareness).

Streams hold the upstream's preamble back (Anthropic ``message_start`` and
``ping``, a role-only chat chunk, ``response.created``) until real content or
a finish arrives, so a 200 that fails before any content still falls back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from translators import StreamTranslator, TranslationError, estimate_tokens, get_format
from translators.canonical import BlockDelta, BlockEnd, Finish, StreamEvent, Usage
from translators.provenance import NATIVE, stamp_bytes, stamp_parts
from translators.stream import custom_tool_names, restore_custom_calls

from . import native, prices, reqlog, thoughts
from .clients import CodeAssistStream
from .endpoints import Call, decode_body
from .errors import NotFound, UpstreamError, UpstreamStreamError
from .exchange_io import Inbound, Runtime
from .failures import classify, empty_answer
from .reply import ClientReply, dumps
from .router import Attempt
from .thoughts import needs_cache
from .upstream import mapped_errors
from .usage import UsageTap

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Job:
    """What the client asked, parsed once for every attempt."""

    rt: Runtime
    call: Call
    inbound: Inbound
    body: dict[str, Any] = field(default_factory=dict)
    body_bytes: bytes = b""
    model: str = ""
    stream: bool = False


class ContentWatch:
    """Sees the provider's canonical events: has real content arrived?"""

    def __init__(self, inner: Callable[[list[StreamEvent]], None] | None) -> None:
        self.inner = inner
        self.content = False
        self.chars = 0
        """Characters of content seen (estimates output when usage is missing)."""

    def __call__(self, events: list[StreamEvent]) -> None:
        self.chars += sum(len(e.text) for e in events if isinstance(e, BlockDelta))
        if not self.content:
            self.content = any(isinstance(e, BlockDelta | BlockEnd | Finish) for e in events)
        if self.inner is not None:
            self.inner(events)


class ProviderRun:
    def __init__(self, job: Job, attempt: Attempt, reply: ClientReply) -> None:
        assert attempt.provider is not None and attempt.model is not None
        self.job, self.attempt, self.reply = job, attempt, reply
        self.rt = job.rt
        self.label = attempt.label
        self.provider = get_format(attempt.provider.format)
        self.client = reply.client
        self.same = self.provider.name == self.client.name
        self.issuer = attempt.provider_name or attempt.label
        """Names this provider on its signatures (they go back only here)."""
        self.usage: Usage | None = None
        self.chars = 0

    async def run(self) -> Headers:
        out, extra, input_tokens, custom = self._request_body()
        req = self.rt.upstream.provider_request(
            self.attempt, out, stream=self.job.stream, extra=extra
        )
        if not self.job.stream:
            return await self._unary(req, custom)
        watch = ContentWatch(self.rt.thoughts.observer(self.client.name, self.provider.name))
        translator = (CodeAssistStream if self.reply.wrapped else StreamTranslator)(
            self.provider,
            self.client,
            self.reply.env,
            model=self.job.model,
            input_tokens=input_tokens,
            sse=self.job.call.sse,
            custom_tools=custom,
            on_events=watch,
            issuer=self.attempt.provider_name,
        )
        return await self._stream(req, translator, watch)

    def _request_body(self) -> tuple[bytes, dict[str, str], int | None, frozenset[str]]:
        job, attempt = self.job, self.attempt
        assert attempt.provider is not None and attempt.model is not None
        # the config's cap, else the model's maximum output from the price data
        cap = attempt.provider.max_tokens or prices.max_output(
            attempt.provider.base_url, attempt.model
        )
        if self.same:
            extra = {}
            if beta := job.inbound.header("anthropic-beta"):
                extra["anthropic-beta"] = beta  # not a credential; the body may need it
            body = passthrough_body(self.client.name, job, attempt.model, cap)
            body = thoughts.outbound(self.client.name, self.issuer, body)
            return body, extra, None, frozenset()
        request = self.client.parse_request(job.body, model=job.call.model, stream=job.call.stream)
        request.model, request.stream = attempt.model, job.stream
        if cap is not None:
            request.max_tokens = min(request.max_tokens or cap, cap)
        input_tokens = estimate_tokens(request) if job.stream else None
        custom = custom_tool_names(request)  # freeform tools the provider sees as functions
        if needs_cache(self.client.name, self.provider.name):
            self.rt.thoughts.restore(self.provider.name, request.messages)
        thoughts.keep_own(request.messages, self.provider.name, self.issuer)
        rendered = self.provider.render_request(request, self.reply.env)
        for warning in request.warnings:
            log.debug("%s: %s", self.label, warning)
        return dumps(rendered), {}, input_tokens, custom

    async def _unary(self, req: httpx.Request, custom: frozenset[str]) -> Headers:
        data, headers = await fetch(self.rt, req, self.label, self.provider.name)
        if not data.strip():
            raise empty_answer(self.label)
        try:
            obj = json.loads(data)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            response = self.provider.parse_response(obj)
        except (ValueError, TranslationError) as exc:
            if self.same:  # the client reads its own format: pass it on as it came
                await self.reply.respond(200, data)
                return headers
            raise UpstreamError(
                502, f"{self.label}: unreadable response: {exc}", "server"
            ) from None
        self.usage = response.usage
        if self.same:
            data = stamp_bytes(self.provider.name, self.issuer, data)
        else:
            stamp_parts(response.parts, self.provider.name, self.issuer)
            if needs_cache(self.client.name, self.provider.name):
                self.rt.thoughts.record(self.provider.name, response.parts)
            response.model = self.job.model
            restore_custom_calls(response, custom)
            data = dumps(self.client.render_response(response, self.reply.env))
        await self.reply.respond(200, data)
        return headers

    async def _stream(
        self, req: httpx.Request, translator: StreamTranslator, watch: ContentWatch
    ) -> Headers:
        upstream = self.rt.upstream
        held = bytearray()
        async with upstream.open(req, self.label) as resp:
            if resp.status_code >= 400:
                raise await upstream.error_body(resp, self.label, self.provider.name)
            try:
                async for chunk in upstream.chunks(resp, self.label):
                    await self._emit(_feed(translator, chunk, self.label), translator, watch, held)
                await self._emit(_feed(translator, None, self.label), translator, watch, held)
            except UpstreamError as err:
                if not self.reply.content_sent:
                    raise
                self.reply.record.error = err.message
                await self.reply.sink.send(translator.fail(self.reply.error_info(err)))
            if not self.reply.content_sent:
                raise empty_answer(self.label)  # ended (or cut) before any content
            headers = tuple((k.lower(), v) for k, v in resp.headers.multi_items())
        self.usage, self.chars = translator.usage, watch.chars
        if translator.error is not None:
            self.reply.record.error = translator.error.message
        return headers

    async def _emit(
        self, out: bytes, translator: StreamTranslator, watch: ContentWatch, held: bytearray
    ) -> None:
        if self.reply.content_sent:
            await self.reply.send(out)
            return
        error = translator.error
        if error is not None and not watch.content:
            err = UpstreamStreamError(error)
            if classify(err).falls_back or classify(err).retry_same:
                raise err  # nothing shown yet: fall back
        held += out
        if watch.content or (error is not None and held):
            data = bytes(held)
            held.clear()
            await self.reply.send(data)


class NativeRun:
    """The client's own destination and credentials, bytes untouched."""

    def __init__(self, job: Job, attempt: Attempt, reply: ClientReply, is_last: bool) -> None:
        self.job, self.attempt, self.reply, self.is_last = job, attempt, reply, is_last
        self.label = attempt.label
        self.usage: Usage | None = None
        self.chars = 0

    async def run(self) -> Headers:
        inbound, reply = self.job.inbound, self.reply
        reply.pings(False)
        if inbound.original_url is None:
            raise NotFound(f"model {self.job.model!r} is not routed to a provider in the config")
        headers = native.forward_request_headers(inbound.headers)
        body = inbound.body
        if self.job.call.kind in ("generate", "count_tokens"):
            encoding = inbound.header("content-encoding")
            decoded = decode_body(body, encoding) if encoding else body
            out = thoughts.outbound(self.job.call.format, NATIVE, decoded)
            if out is not decoded:  # rewritten: sent uncompressed
                body = out
                headers = [h for h in headers if h[0].lower() != "content-encoding"]
        upstream = self.job.rt.upstream
        req = upstream.native_request(inbound.method, inbound.original_url, headers, body)
        async with upstream.open(req, "native") as resp:
            seen = tuple((k.lower(), v) for k, v in resp.headers.multi_items())
            status = resp.status_code
            if status >= 400 and (not self.is_last or reply.committed):
                err = await upstream.error_body(resp, "native", self.job.call.format)
                if reply.committed or classify(err).falls_back:
                    raise err
                await self._answer(status, resp.headers.multi_items(), err.body)
                return seen
            raw = not reply.committed  # after pings: decoded bytes into our stream
            tap = UsageTap(self.job.call.format, self.job.stream and self.job.call.sse)
            readable = not (raw and resp.headers.get("content-encoding", "identity") != "identity")
            if raw:
                reply.head(
                    status,
                    native.forward_response_headers(resp.headers.multi_items())
                    + reply.route_headers(),
                )
            try:
                async for chunk in upstream.chunks(resp, "native", raw=raw):
                    await reply.send_raw(chunk)
                    if readable:
                        tap.feed(chunk)
            except UpstreamError as err:
                if not reply.content_sent:
                    raise
                reply.record.error = err.message
                reply.abort()  # never a silently complete-looking body
            if not reply.content_sent:
                await reply.send_raw(b"")
        self.usage, self.chars = tap.finish(), tap.chars
        return seen

    async def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """An error the client must see, already read (and decoded)."""
        kept = [
            h
            for h in native.forward_response_headers(headers)
            if h[0].lower() != "content-encoding"
        ]
        self.reply.head(status, kept + self.reply.route_headers())
        await self.reply.send_raw(body)


def _feed(translator: StreamTranslator, chunk: bytes | None, label: str) -> bytes:
    """Translate a chunk (None: the end); a stream we cannot read is the upstream's fault."""
    try:
        return translator.feed(chunk) if chunk is not None else translator.finish()
    except TranslationError as exc:
        raise UpstreamError(502, f"{label}: unreadable stream: {exc}", "server") from None


async def fetch(rt: Runtime, req: httpx.Request, label: str, fmt: str) -> tuple[bytes, Headers]:
    """A whole successful response body; an error status raises."""
    async with rt.upstream.open(req, label) as resp:
        if resp.status_code >= 400:
            raise await rt.upstream.error_body(resp, label, fmt)
        with mapped_errors(label):
            data = await resp.aread()
        reqlog.note("upstream response", data)
        return data, tuple((k.lower(), v) for k, v in resp.headers.multi_items())


MAX_TOKENS_FIELDS = {
    "anthropic": ("max_tokens",),
    "openai-chat": ("max_tokens", "max_completion_tokens"),
    "openai-responses": ("max_output_tokens",),
}


def passthrough_body(fmt: str, job: Job, model: str, cap: int | None) -> bytes:
    changes = capped_max_tokens(fmt, job.body, cap)
    if job.call.model is None and job.body.get("model") != model:
        changes["model"] = model  # (Gemini names the model in the URL)
    options = job.body.get("stream_options")
    options = options if isinstance(options, dict) else {}
    if fmt == "openai-chat" and job.stream and options.get("include_usage") is not True:
        # Without it a chat stream carries no usage at all (a row of zeros);
        # the client then also sees the usage chunk (choices: []), valid OpenAI wire.
        changes["stream_options"] = {**options, "include_usage": True}
    if not changes:
        return job.body_bytes
    return json.dumps({**job.body, **changes}, ensure_ascii=False).encode()


def capped_max_tokens(fmt: str, body: dict[str, Any], cap: int | None) -> dict[str, Any]:
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
