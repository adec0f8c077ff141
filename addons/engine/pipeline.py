"""One request through the engine: route, translate, call, stream, record.

:class:`Exchange` is independent of the HTTP server: it writes to a
:class:`Sink` (the tornado handler) and reads an :class:`Inbound` request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import httpx

from translators import (
    Env,
    ErrorInfo,
    StreamTranslator,
    TranslationError,
    WireFormat,
    estimate_tokens,
    get_format,
)
from translators.canonical import Usage
from translators.stream import custom_tool_names, restore_custom_calls

from . import native
from .clients import CodeAssistStream, unwrap_code_assist, wrap_code_assist
from .endpoints import Call, decode_body, model_and_stream, parse_json
from .errors import (
    BadRequest,
    ClientGone,
    EngineError,
    NotFound,
    UpstreamError,
    UpstreamStatus,
    UpstreamStreamError,
)
from .exchange_io import Inbound, Runtime, Sink
from .records import Record
from .router import Attempt, Plan, plan
from .thoughts import needs_cache
from .upstream import mapped_errors

log = logging.getLogger(__name__)

ROUTE_HEADER = "x-omniroute-route"
RECORD_HEADER = "x-omniroute-id"


class Exchange:
    def __init__(self, rt: Runtime, call: Call, inbound: Inbound, sink: Sink) -> None:
        self.rt = rt
        self.config = rt.config
        self.call = call
        self.inbound = inbound
        self.sink = sink
        self.env = Env()
        self.record: Record = rt.records.new(call.format, call.kind)
        self.model = ""
        self.stream = False
        self.content_sent = False
        self.pinging = False
        self.wrapped = False  # answers go back in Code Assist's envelope
        self._client: WireFormat | None = None
        self._pinger: asyncio.Task[None] | None = None

    @property
    def client(self) -> WireFormat:
        if self._client is None:
            self._client = get_format(self.call.format)
        return self._client

    async def run(self) -> None:
        try:
            await self._dispatch()
        except (asyncio.CancelledError, ClientGone):
            self.record.error = "client disconnected"
            raise
        except TranslationError as exc:
            await self._fail(BadRequest(str(exc)))
        except EngineError as exc:
            await self._fail(exc)
        except Exception as exc:  # a bug must still answer, never hang the client
            log.exception("internal error")
            await self._fail(EngineError(500, f"internal error ({type(exc).__name__})", "server"))
        finally:
            if self._pinger is not None:
                self._pinger.cancel()
            self.record.close(self.record.status or 499)
            self._log()

    async def _dispatch(self) -> None:
        if self.call.kind == "models":
            return await self._models()
        body_bytes = decode_body(self.inbound.body, self.inbound.header("content-encoding"))
        body = parse_json(body_bytes)
        if self.call.envelope:  # Gemini CLI's Code Assist: the Gemini request inside
            self.call, body = unwrap_code_assist(self.call, body)
            body_bytes, self.wrapped = _dumps(body), True
        self.model, self.stream = model_and_stream(self.call, body)
        self.record.model, self.record.stream = self.model, self.stream
        route = plan(self.config, self.call.format, self.model, self.inbound.host)
        self.record.target = route.target
        if self.call.kind == "count_tokens":
            return await self._count_tokens(route, body)
        await self._generate(route, body, body_bytes)

    # ------------------------------------------------------------- generate

    async def _generate(self, route: Plan, body: dict[str, Any], body_bytes: bytes) -> None:
        if self.stream and self.rt.ping_interval > 0:
            self._pinger = asyncio.ensure_future(self._ping_loop())
        last: UpstreamError | None = None
        for i, attempt in enumerate(route.attempts):
            self.record.attempts.append(attempt.label)
            try:
                if attempt.native:
                    await self._native(is_last=i == len(route.attempts) - 1)
                else:
                    await self._provider(attempt, body, body_bytes)
                return
            except UpstreamError as err:
                if self.content_sent or not err.retryable:
                    raise
                self.record.failures.append(f"{attempt.label}: {err.status}")
                log.info("%s failed (%s), trying the next target", attempt.label, err.status)
                last = err
        raise last or EngineError(503, f"no usable target for {route.target!r}", "overloaded")

    async def _provider(self, attempt: Attempt, body: dict[str, Any], body_bytes: bytes) -> None:
        assert attempt.provider is not None and attempt.model is not None
        provider = get_format(attempt.provider.format)
        same = provider.name == self.client.name
        input_tokens = None
        custom: frozenset[str] = frozenset()  # freeform tools the provider sees as functions
        extra: dict[str, str] = {}
        cap = attempt.provider.max_tokens
        if same:
            out = self._passthrough_body(body, body_bytes, attempt.model, cap)
            if beta := self.inbound.header("anthropic-beta"):
                extra["anthropic-beta"] = beta  # not a credential; the body may need it
        else:
            request = self.client.parse_request(
                body, model=self.call.model, stream=self.call.stream
            )
            request.model, request.stream = attempt.model, self.stream
            if cap is not None:
                request.max_tokens = min(request.max_tokens or cap, cap)
            input_tokens = estimate_tokens(request) if self.stream else None
            custom = custom_tool_names(request)
            if needs_cache(self.client.name, provider.name):
                self.rt.thoughts.restore(provider.name, request.messages)
            rendered = provider.render_request(request, self.env)
            for warning in request.warnings:
                log.debug("%s: %s", attempt.label, warning)
            out = json.dumps(rendered, separators=(",", ":"), ensure_ascii=False).encode()
        req = self.rt.upstream.provider_request(attempt, out, stream=self.stream, extra=extra)
        if not self.stream:
            return await self._unary(req, attempt.label, provider, same, custom)
        translator = (CodeAssistStream if self.wrapped else StreamTranslator)(
            provider,
            self.client,
            self.env,
            model=self.model,
            input_tokens=input_tokens,
            sse=self.call.sse,
            custom_tools=custom,
            on_events=self.rt.thoughts.observer(self.client.name, provider.name),
        )
        await self._stream(req, attempt.label, translator, provider.name)

    def _passthrough_body(
        self, body: dict[str, Any], body_bytes: bytes, model: str, cap: int | None
    ) -> bytes:
        changes = capped_max_tokens(self.client.name, body, cap)
        if self.call.model is None and body.get("model") != model:
            changes["model"] = model  # (Gemini names the model in the URL)
        if not changes:
            return body_bytes
        return json.dumps({**body, **changes}, ensure_ascii=False).encode()

    async def _unary(
        self,
        req: httpx.Request,
        label: str,
        provider: WireFormat,
        same: bool,
        custom: frozenset[str] = frozenset(),
    ) -> None:
        data = await self._fetch(req, label, provider.name)
        try:
            obj = json.loads(data)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            response = provider.parse_response(obj)
        except (ValueError, TranslationError) as exc:
            if same:  # the client reads its own format: pass it on as it came
                return await self._respond(200, data)
            raise UpstreamError(502, f"{label}: unreadable response: {exc}", "server") from None
        self._take_usage(response.usage)
        if not same:
            if needs_cache(self.client.name, provider.name):
                self.rt.thoughts.record(provider.name, response.parts)
            response.model = self.model
            restore_custom_calls(response, custom)
            data = _dumps(self.client.render_response(response, self.env))
        await self._respond(200, data)

    async def _fetch(self, req: httpx.Request, label: str, fmt: str) -> bytes:
        """A whole successful response body; an error status raises."""
        async with self.rt.upstream.open(req, label) as resp:
            if resp.status_code >= 400:
                raise await self.rt.upstream.error_body(resp, label, fmt)
            with mapped_errors(label):
                return await resp.aread()

    async def _stream(
        self, req: httpx.Request, label: str, translator: StreamTranslator, fmt: str
    ) -> None:
        self.pinging = True
        upstream = self.rt.upstream
        async with upstream.open(req, label) as resp:
            if resp.status_code >= 400:
                raise await upstream.error_body(resp, label, fmt)
            try:
                async for chunk in upstream.chunks(resp, label):
                    await self._emit(translator.feed(chunk), translator)
                await self._emit(translator.finish(), translator)
            except UpstreamError as err:
                if not self.content_sent:
                    raise
                self.record.error = err.message
                await self.sink.send(translator.fail(self._error_info(err)))
        self._take_usage(translator.usage)
        if translator.error is not None:
            self.record.error = translator.error.message

    async def _emit(self, out: bytes, translator: StreamTranslator) -> None:
        if not out:
            return
        if not self.content_sent:
            error = translator.error
            if error is not None and (error.status == 429 or error.status >= 500):
                raise UpstreamStreamError(error)  # nothing shown yet: fall back
            self.content_sent = True
            self.record.mark_first_byte()
            if not self.sink.committed:
                self._head(200, self._stream_headers())
        await self.sink.send(out)

    def _head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.record.status = status
        self.sink.head(status, headers)

    def _stream_headers(self) -> list[tuple[str, str]]:
        media = self.client.media_type if self.call.sse else "application/json"
        return [("content-type", media), ("cache-control", "no-cache"), *self._route_headers()]

    def _route_headers(self) -> list[tuple[str, str]]:
        route = re.sub(r"[^\x20-\x7e]", "?", self.record.route)[:500]
        return [(ROUTE_HEADER, route), (RECORD_HEADER, str(self.record.id))]

    async def _ping_loop(self) -> None:
        ping = StreamTranslator(
            self.client, self.client, self.env, model=self.model, sse=self.call.sse
        ).ping()
        while not self.content_sent:
            await asyncio.sleep(self.rt.ping_interval)
            if self.content_sent or not self.pinging or not ping:
                continue
            if not self.sink.committed:
                self._head(200, self._stream_headers())
            try:
                await self.sink.send(ping)
            except ClientGone:
                return

    # --------------------------------------------------------------- native

    async def _native(self, is_last: bool) -> None:
        """The client's own destination and credentials, bytes untouched."""
        self.pinging = False
        inbound = self.inbound
        if inbound.original_url is None:
            raise NotFound(f"model {self.model!r} is not routed to a provider in the config")
        headers = native.forward_request_headers(inbound.headers)
        req = self.rt.upstream.native_request(
            inbound.method, inbound.original_url, headers, inbound.body
        )
        upstream = self.rt.upstream
        async with upstream.open(req, "native") as resp:
            status = resp.status_code
            retryable = status == 429 or status >= 500
            if (retryable and not is_last) or (status >= 400 and self.sink.committed):
                raise await upstream.error_body(resp, "native", self.call.format)
            raw = not self.sink.committed  # after pings: decoded bytes into our stream
            if raw:
                self._head(
                    status,
                    native.forward_response_headers(resp.headers.multi_items())
                    + self._route_headers(),
                )
            try:
                async for chunk in upstream.chunks(resp, "native", raw=raw):
                    self.content_sent = True
                    self.record.mark_first_byte()
                    await self.sink.send(chunk)
            except UpstreamError as err:
                if not self.content_sent:
                    raise
                self._native_cut(err, resp)
            if not self.content_sent:
                await self.sink.send(b"")

    def _native_cut(self, err: UpstreamError, resp: httpx.Response) -> None:
        self.record.error = err.message
        self.sink.abort()  # never a silently complete-looking body

    # ---------------------------------------------------- answered here

    async def _count_tokens(self, route: Plan, body: dict[str, Any]) -> None:
        attempt = route.attempts[0] if route.attempts else None
        if attempt is not None and attempt.native and self.inbound.original_url is not None:
            self.record.attempts.append("native")
            return await self._native(is_last=True)
        if attempt is not None and attempt.provider is not None and attempt.model is not None:
            self.record.attempts.append(attempt.label)
        if (
            attempt
            and attempt.provider
            and attempt.model
            and attempt.provider.format == self.call.format
        ):
            out = self._passthrough_body(body, _dumps(body), attempt.model, None)
            req = self.rt.upstream.provider_request(attempt, out, stream=False, kind="count_tokens")
            try:
                return await self._respond(
                    200, await self._fetch(req, attempt.label, attempt.provider.format)
                )
            except UpstreamError as err:
                log.info("%s cannot count tokens (%s); estimating", attempt.label, err.status)
        request = self.client.parse_request(body, model=self.call.model, stream=False)
        count = native.render_token_count(self.call.format, estimate_tokens(request))
        self.record.attempts.append("estimate")
        await self._respond(200, _dumps(count))

    async def _models(self) -> None:
        if self.inbound.original_url is not None:
            self.record.attempts.append("native")
            return await self._native(is_last=True)
        names = native.catalog(self.config)
        await self._respond(200, _dumps(native.render_models(self.call.format, names)))

    # --------------------------------------------------------------- errors

    async def _respond(self, status: int, data: bytes) -> None:
        if self.wrapped and self.call.kind == "generate":
            data = wrap_code_assist(data)
        self.record.mark_first_byte()
        self.content_sent = True
        self._head(status, [("content-type", "application/json"), *self._route_headers()])
        await self.sink.send(data)

    def _error_info(self, err: EngineError) -> ErrorInfo:
        if isinstance(err, UpstreamStatus) and err.fmt is not None:
            info = get_format(err.fmt).parse_error(err.status, err.body)
        elif isinstance(err, UpstreamStreamError):
            info = err.error
        else:
            info = err.info()
        if self.record.failures and len(self.record.failures) == len(self.record.attempts):
            tried = ", ".join(self.record.failures)
            info.message = f"all targets failed ({tried}); last: {info.message}"
        info.message = self._redact(info.message)
        return info

    def _redact(self, text: str) -> str:
        for provider in self.config.providers.values():
            for key in provider.keys:
                secret = key.get_secret_value()
                if len(secret) >= 8:
                    text = text.replace(secret, "***")
        return text

    async def _fail(self, err: EngineError) -> None:
        info = self._error_info(err)
        self.record.error = info.message
        self.record.status = info.status
        if self.sink.committed:
            fail = StreamTranslator(
                self.client, self.client, self.env, model=self.model, sse=self.call.sse
            )
            await self.sink.send(fail.fail(info))
            return
        status, body = self.client.render_error(info)
        self.record.status = status
        self._head(status, [("content-type", "application/json"), *self._route_headers()])
        await self.sink.send(_dumps(body))

    def _take_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self.record.input_tokens = usage.input_tokens
            self.record.output_tokens = usage.output_tokens

    def _log(self) -> None:
        r = self.record
        tokens = f" tokens {r.input_tokens}/{r.output_tokens}" if r.input_tokens is not None else ""
        error = f" error: {r.error}" if r.error else ""
        log.info(
            "%s %s %s: %s %d in %.0f ms%s%s",
            r.client,
            r.kind,
            r.id,
            r.route,
            r.status,
            r.duration_ms or 0,
            tokens,
            error,
        )


MAX_TOKENS_FIELDS = {
    "anthropic": ("max_tokens",),
    "openai-chat": ("max_tokens", "max_completion_tokens"),
    "openai-responses": ("max_output_tokens",),
}


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


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
