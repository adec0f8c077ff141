"""Attempts: one try of a request against one provider account, or forwarding.

Each knows how to run itself into the :class:`ClientReply` and raises an
:class:`UpstreamError` when it failed before content reached the client (the
fallback loop then classifies it). ``run`` returns the response headers of a
success (rate-limit headers for quota awareness).

Streams hold the upstream's preamble back (Anthropic ``message_start`` and
``ping``, a role-only chat chunk, ``response.created``) until real content or
a finish arrives, so a 200 that fails before any content still falls back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from omniroute_mitm.engine.core import prices
from omniroute_mitm.engine.core.calls import Call, decode_body, dumps, parse_json
from omniroute_mitm.engine.core.endpoints import continuation
from omniroute_mitm.engine.core.errors import (
    NotFound,
    UpstreamError,
    UpstreamStreamError,
    UpstreamTimeout,
)
from omniroute_mitm.engine.core.inbound import Inbound
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.record import reqlog
from omniroute_mitm.engine.route.failures import classify, empty_answer
from omniroute_mitm.engine.route.plan import Attempt
from omniroute_mitm.engine.stream.holdback import ContentWatch, HoldBack
from omniroute_mitm.engine.stream.reply import ClientReply
from omniroute_mitm.engine.stream.tap import UsageTap
from omniroute_mitm.engine.translate import thinking
from omniroute_mitm.engine.translate.codeassist import CodeAssistStream
from omniroute_mitm.engine.translate.memo import MessageMemo
from omniroute_mitm.engine.translate.shaping import Asked, shape_request
from omniroute_mitm.engine.translate.thinking import ThoughtCache, needs_cache
from omniroute_mitm.translators import (
    StreamTranslator,
    TranslationError,
    get_format,
)
from omniroute_mitm.translators.canonical import ToolCall, Usage
from omniroute_mitm.translators.provenance import NATIVE, stamp_bytes, stamp_parts
from omniroute_mitm.translators.stream import restore_custom_calls

from . import forwarding
from .upstream import Upstream, mapped_errors

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, str], ...]


class Services(Protocol):
    """What an attempt uses of the state every exchange shares (the runtime)."""

    @property
    def upstream(self) -> Upstream: ...
    @property
    def thoughts(self) -> ThoughtCache: ...
    @property
    def memo(self) -> MessageMemo: ...


@dataclass(slots=True)
class Job:
    """What the client asked, parsed once for every attempt."""

    rt: Services
    call: Call
    inbound: Inbound
    parsed: dict[str, Any] | None = None
    """The body parsed (see :attr:`body`)."""
    body_bytes: bytes = b""
    top: TopLevel | None = None
    """The body split at its top level, when it was not parsed whole (a
    long same-format body goes on as bytes: :class:`TopLevel`)."""
    model: str = ""
    stream: bool = False
    input_estimate: int | None = None
    """The prompt's estimated tokens once some step counted them (a
    translated stream does): the usage estimate reuses it, never parses again."""

    @property
    def body(self) -> dict[str, Any]:
        """The body parsed whole: once, by the first step that needs it all."""
        if self.parsed is None:
            self.parsed = parse_json(self.body_bytes)
        return self.parsed

    @body.setter
    def body(self, value: dict[str, Any]) -> None:
        self.parsed, self.top = value, None

    @property
    def view(self) -> Mapping[str, Any]:
        """The body's top-level members, parsed or not."""
        return self.top if self.top is not None else self.body

    def members(self, *keys: str) -> Mapping[str, Any]:
        """At least the named top-level members, without parsing the rest."""
        return self.top.subset(*keys) if self.top is not None else self.body

    def asked(self) -> Asked:
        parsed = self.parsed if self.parsed is not None else (lambda: self.body)
        return Asked(
            parsed, self.body_bytes, self.call.model, self.call.stream, self.stream, self.top
        )


class Broken(UpstreamError):
    """A stream broke after content reached the client, which still has it
    open: the exchange may continue it (:meth:`StreamTranslator.resume`) or
    end it with ``cause`` (:meth:`end`)."""

    def __init__(
        self, cause: UpstreamError, run: ProviderRun, translator: StreamTranslator
    ) -> None:
        super().__init__(cause.status, cause.message, cause.kind)
        self.cause, self.run, self.translator = cause, run, translator
        sent = translator.sent
        self.events = sent.events if sent is not None else 0
        self.reason = f"{cause.status} {cause.kind}: {cause.message}"
        self.resumable = True
        """False: the run cannot be taken up again (the engine's web loop
        after it ran a tool)."""

    @property
    def continuable(self) -> bool:
        """Not inside a tool call: its arguments were cut (the client has part of them)."""
        sent = self.translator.sent
        block = sent.open_block() if sent is not None else None
        return self.resumable and (block is None or block.kind in ("text", "reasoning"))

    @property
    def called(self) -> bool:
        """Whole tool calls reached the client: the turn is a tool call turn."""
        return any(isinstance(p, ToolCall) for p in self.partial)

    @property
    def partial(self) -> list[Any]:
        return self.translator.sent.parts() if self.translator.sent is not None else []

    async def end(self, reply: ClientReply) -> None:
        """As without a continuation: the client's stream ends with the error."""
        reply.record.error = self.cause.message
        await reply.sink.send(self.translator.fail(reply.error_info(self.cause)))


class ProviderRun:
    def __init__(
        self,
        job: Job,
        attempt: Attempt,
        reply: ClientReply,
        *,
        continuable: bool = False,
        resume: Broken | None = None,
        stall: float | None = None,
    ) -> None:
        assert attempt.provider is not None and attempt.model is not None
        self.job, self.attempt, self.reply = job, attempt, reply
        self.continuable = continuable and job.stream and not reply.wrapped
        """A break after content raises :class:`Broken` (the client's stream kept open)."""
        self.resume = resume
        """The break this run continues (its request carries the partial turn)."""
        self.stall = stall
        self.rt = job.rt
        self.label = attempt.label
        self.provider = get_format(attempt.provider.format)
        self.client = reply.client
        self.same = self.provider.name == self.client.name
        self.issuer = attempt.provider_name or attempt.label
        """Names this provider on its signatures (they go back only here)."""
        self.usage: Usage | None = None
        self.chars = 0
        self.sent = False
        """The request went to the provider (it read the input, whatever follows)."""
        self._progress: tuple[StreamTranslator, ContentWatch] | None = None

    def so_far(self) -> tuple[Usage | None, int]:
        """Usage and content characters seen until now (a stream cut short)."""
        if self._progress is None:
            return self.usage, self.chars
        translator, watch = self._progress
        return translator.usage, watch.chars

    async def run(self) -> Headers:
        job, attempt = self.job, self.attempt
        assert attempt.provider is not None and attempt.model is not None
        how = continuation(attempt.provider)
        shaped = shape_request(
            self.client,
            self.provider,
            job.asked(),
            model=attempt.model,
            # the config's cap, else the model's maximum output from the price data
            cap=attempt.provider.max_tokens
            or prices.max_output(attempt.provider.base_url, attempt.model),
            issuer=self.issuer,
            thoughts=self.rt.thoughts,
            env=self.reply.env,
            beta=job.inbound.header("anthropic-beta"),
            partial=self.resume.partial if self.resume is not None else None,
            how=how,
            memo=self.rt.memo,
        )
        for warning in shaped.warnings:
            log.debug("%s: %s", self.label, warning)
        req = self.rt.upstream.provider_request(
            self.attempt,
            shaped.body,
            stream=self.job.stream,
            extra=shaped.headers,
            prefix=bool(shaped.prefix),
        )
        custom, input_tokens = shaped.custom_tools, shaped.input_tokens
        if input_tokens is not None and self.resume is None and job.input_estimate is None:
            job.input_estimate = input_tokens  # (the whole request as the client sent it)
        self.sent = True
        if not self.job.stream:
            return await self._unary(req, custom)
        watch = ContentWatch(self.rt.thoughts.observer(self.client.name, self.provider.name))
        if self.resume is not None:
            translator = self.resume.translator.resume(
                self.provider,
                self.reply.env,
                on_events=watch,
                issuer=self.attempt.provider_name,
                custom_tools=custom,
                exact=how != "instruction",
                trimmed=shaped.trimmed,
                echo=shaped.prefix,
            )
            return await self._stream(req, translator, watch)
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
            **({"continuable": True} if self.continuable else {}),
        )
        self._progress = (translator, watch)
        return await self._stream(req, translator, watch)

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
        held = HoldBack(self.reply, translator, watch, falls_back)
        async with upstream.open(req, self.label) as resp:
            if resp.status_code >= 400:
                raise await upstream.error_body(resp, self.label, self.provider.name)
            try:
                feed = functools.partial(_feed, translator, label=self.label)
                async for chunk in self._chunks(resp, watch):
                    await held.take(chunk, feed)
                    if translator.broken is not None:
                        break
                else:
                    await held.emit(_feed(translator, None, self.label))
            except UpstreamError as err:
                if not self.reply.content_sent:
                    raise
                if (
                    translator.continuable
                    and translator.broken is None
                    and (
                        translator.stop_reason is None  # after a finish: whole, ends as before
                    )
                ):
                    # (a held call whose arguments were already whole goes out)
                    await held.emit(translator.break_off(err.info()))
                    raise Broken(err, self, translator) from None
                self.reply.record.error = err.message
                await self.reply.sink.send(translator.fail(self.reply.error_info(err)))
            if translator.broken is not None:
                if not self.reply.content_sent:  # only a held call came: fall back as before
                    raise UpstreamStreamError(translator.broken)
                raise Broken(UpstreamStreamError(translator.broken), self, translator)
            if not self.reply.content_sent:
                raise empty_answer(self.label)  # ended (or cut) before any content
            headers = tuple((k.lower(), v) for k, v in resp.headers.multi_items())
        self.usage, self.chars = translator.usage, watch.chars
        if translator.error is not None:
            self.reply.record.error = translator.error.message
        return headers

    async def _chunks(self, resp: httpx.Response, watch: ContentWatch) -> AsyncIterator[bytes]:
        """The body's chunks; with a stall timeout, a continuable stream that
        sent content and then goes quiet that long is a break. A continuation
        counts from content of its own: until then the model reads the prompt
        (its time to first token, under the provider's timeout like any)."""
        chunks = self.rt.upstream.chunks(resp, self.label)
        if self.stall is None or not self.continuable and self.resume is None:
            async for chunk in chunks:
                yield chunk
            return
        it = aiter(chunks)
        while True:
            sent = watch.content if self.resume is not None else self.reply.content_sent
            wait = self.stall if sent else None
            try:
                chunk = await asyncio.wait_for(anext(it), wait)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UpstreamTimeout(f"{self.label}: no data for {self.stall:g} s") from None
            yield chunk


class NativeRun:
    """The client's own destination and credentials, bytes untouched."""

    def __init__(self, job: Job, attempt: Attempt, reply: ClientReply, is_last: bool) -> None:
        self.job, self.attempt, self.reply, self.is_last = job, attempt, reply, is_last
        self.label = attempt.label
        self.usage: Usage | None = None
        self.chars = 0
        self.sent = False
        """The request went to the destination (it read the input, whatever follows)."""
        self._tap: UsageTap | None = None

    def so_far(self) -> tuple[Usage | None, int]:
        """Usage and content characters seen until now (an answer cut short)."""
        if self._tap is None:
            return self.usage, self.chars
        return self._tap.usage, self._tap.chars

    async def run(self) -> Headers:
        inbound, reply = self.job.inbound, self.reply
        reply.pings(False)
        if inbound.original_url is None:
            raise NotFound(f"model {self.job.model!r} is not routed to a provider in the config")
        headers = forwarding.forward_request_headers(inbound.headers)
        body = inbound.body
        if self.job.call.kind in ("generate", "count_tokens"):
            encoding = inbound.header("content-encoding")
            decoded = decode_body(body, encoding, self.job.rt.max_body) if encoding else body
            out = thinking.outbound(self.job.call.format, NATIVE, decoded)
            if out is not decoded:  # rewritten: sent uncompressed
                body = out
                headers = [h for h in headers if h[0].lower() != "content-encoding"]
        upstream = self.job.rt.upstream
        req = upstream.native_request(inbound.method, inbound.original_url, headers, body)
        self.sent = True
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
            tap = self._tap = UsageTap(self.job.call.format, self.job.stream and self.job.call.sse)
            readable = not (raw and resp.headers.get("content-encoding", "identity") != "identity")
            if raw:
                reply.head(
                    status,
                    forwarding.forward_response_headers(resp.headers.multi_items())
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
            for h in forwarding.forward_response_headers(headers)
            if h[0].lower() != "content-encoding"
        ]
        self.reply.head(status, kept + self.reply.route_headers())
        await self.reply.send_raw(body)


def falls_back(err: UpstreamError) -> bool:
    """An error before any content that another attempt may still answer."""
    failure = classify(err)
    return failure.falls_back or failure.retry_same


def _feed(translator: StreamTranslator, chunk: bytes | None, label: str) -> bytes:
    """Translate a chunk (None: the end); a stream we cannot read is the upstream's fault."""
    try:
        return translator.feed(chunk) if chunk is not None else translator.finish()
    except TranslationError as exc:
        raise UpstreamError(502, f"{label}: unreadable stream: {exc}", "server") from None


async def fetch(rt: Services, req: httpx.Request, label: str, fmt: str) -> tuple[bytes, Headers]:
    """A whole successful response body; an error status raises."""
    async with rt.upstream.open(req, label) as resp:
        if resp.status_code >= 400:
            raise await rt.upstream.error_body(resp, label, fmt)
        with mapped_errors(label):
            data = await resp.aread()
        reqlog.note("upstream response", data)
        return data, tuple((k.lower(), v) for k, v in resp.headers.multi_items())
