"""One request through the engine: route, walk the attempts, record.

:class:`Exchange` is independent of the HTTP server: it writes to a
:class:`Sink` (the tornado handler) through a :class:`ClientReply` and reads
an :class:`Inbound` request. The router decides the attempts; each one runs
itself (:mod:`engine.attempts`); the outcome of each goes back to the router.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from translators import TranslationError, WireFormat, estimate_tokens, get_format

from . import history, native, reqlog, usage
from .affinity import conversation_id
from .attempts import Job, NativeRun, ProviderRun, fetch, passthrough_body
from .clients import unwrap_code_assist
from .endpoints import STORED_KINDS, Call, decode_body, model_and_stream, parse_json
from .errors import BadRequest, ClientGone, EngineError, UpstreamError
from .exchange_io import Inbound, Runtime, Sink
from .failures import classify
from .headers import RECORD_HEADER, ROUTE_HEADER
from .records import Record
from .reply import ClientReply, dumps
from .router import Attempt
from .routing import Decision, RouteRequest
from .signatures import without_thinking
from .usage import credential

__all__ = ["RECORD_HEADER", "ROUTE_HEADER", "Exchange"]

log = logging.getLogger(__name__)


class Exchange:
    def __init__(self, rt: Runtime, call: Call, inbound: Inbound, sink: Sink) -> None:
        self.rt = rt
        self.config = rt.config
        self.record: Record = rt.records.new(call.format, call.kind)
        self.record.client_app = usage.client_app(inbound.header("user-agent"))
        self.log_entry: reqlog.ExchangeLog | None = None
        if rt.request_log is not None:
            self.log_entry = rt.request_log.start(self.record.id, self._redact_all)
            sink = reqlog.LoggedSink(sink, self.log_entry)
        self.job = Job(rt, call, inbound)
        self.reply = ClientReply(sink, self.record, self._client, sse=call.sse, redact=self._redact)
        self._format: WireFormat | None = None
        self._skipped: list[str] = []
        """Attempts the router left out (open breakers), for the log line."""

    def _client(self) -> WireFormat:
        if self._format is None:
            self._format = get_format(self.job.call.format)
        return self._format

    async def run(self) -> None:
        self.rt.exchanges += 1
        token = reqlog.current.set(self.log_entry)
        if self.log_entry is not None:
            self._log_inbound(self.log_entry)
        try:
            await self._dispatch()
        except (asyncio.CancelledError, ClientGone):
            self.record.error = "client disconnected"
            raise
        except TranslationError as exc:
            await self.reply.fail(BadRequest(str(exc)))
        except EngineError as exc:
            await self.reply.fail(exc)
        except Exception as exc:  # a bug must still answer, never hang the client
            log.exception("internal error")
            await self.reply.fail(
                EngineError(500, f"internal error ({type(exc).__name__})", "server")
            )
        finally:
            self.rt.exchanges -= 1
            self.reply.close()
            self.record.close(self.record.status or 499)
            reqlog.current.reset(token)
            if self.log_entry is not None:
                self.log_entry.close()
            usage.price_record(self.record, self.config)
            self.record.settled.set()
            if self.rt.usage is not None:
                self.rt.usage.add(self.record, self.config)
            self._log()

    async def _dispatch(self) -> None:
        job = self.job
        if job.call.kind == "models":
            return await self._models()
        if job.call.kind in STORED_KINDS:
            return await self._stored()
        job.body_bytes = decode_body(job.inbound.body, job.inbound.header("content-encoding"))
        job.body = parse_json(job.body_bytes)
        conversation = conversation_id(job.call.format, job.inbound.headers, job.body)
        if job.call.envelope:  # Gemini CLI's Code Assist: the Gemini request inside
            job.call, job.body = unwrap_code_assist(job.call, job.body)
            job.body_bytes, self.reply.wrapped = dumps(job.body), True
        job.model, job.stream = model_and_stream(job.call, job.body)
        self.reply.model = job.model
        self.record.model, self.record.stream = job.model, job.stream
        request = RouteRequest(
            job.call.format, job.model, job.inbound.host, conversation, self._tokens()
        )
        decision = self.rt.router.decide(self.config, request)
        self._skipped = decision.skipped
        self.record.target = decision.target
        if job.call.format == "openai-responses" and job.call.kind == "generate":
            self._responses_state(decision)
        if job.call.kind == "count_tokens":
            return await self._count_tokens(decision)
        await self._generate(decision)

    def _estimate(self) -> int:
        try:
            request = self._client().parse_request(
                self.job.body, model=self.job.call.model, stream=False
            )
        except TranslationError:
            return 0
        return estimate_tokens(request)

    def _tokens(self) -> int | None:
        """Estimated input plus maximum output (for context-fit); a chained
        Responses request counts the stored conversation too."""
        body = self.job.body
        if self.job.call.format == "openai-responses":
            body = history.with_history(self.rt.responses, body)
        try:
            request = self._client().parse_request(body, model=self.job.call.model, stream=False)
        except TranslationError:
            return None
        return estimate_tokens(request) + (request.max_tokens or 0)

    def _responses_state(self, decision: Decision) -> None:
        """previous_response_id, stored responses and compaction (engine.history):
        decided once here, before the attempts run."""
        job = self.job
        conv, decision.attempts = history.begin(
            self.rt.responses,
            job.body,
            decision.attempts,
            job.inbound,
            self.record,
            compact=job.call.compact,
        )
        if conv.watching:
            self.reply.sink = history.Watch(self.reply.sink, conv)
        if conv.changed:
            job.body_bytes = dumps(job.body)
            job.inbound = history.rewritten(job.inbound, job.body_bytes)

    # ------------------------------------------------------------- generate

    async def _generate(self, decision: Decision) -> None:
        if self.job.stream:
            self.reply.start_pinging(self.rt.ping_interval)
        last: UpstreamError | None = None
        too_long: Attempt | None = None  # the context did not fit this one
        wait = self.config.resilience.max_wait
        for i, attempt in enumerate(decision.attempts):
            if too_long is not None and not decision.larger_window(too_long, attempt):
                continue
            wait -= await self._wait_for(attempt, wait)
            try:
                return await self._attempt(decision, attempt, i == len(decision.attempts) - 1)
            except UpstreamError as err:
                if self.reply.content_sent or not err.falls_back:
                    raise
                log.info("%s failed (%s), trying the next target", attempt.label, err.status)
                last = err
                if classify(err).kind == "context":
                    too_long = attempt
        if last is None and decision.skipped:
            why = ", ".join(decision.skipped)
            raise EngineError(503, f"no target available for {decision.target!r} ({why})")
        raise last or EngineError(503, f"no usable target for {decision.target!r}", "overloaded")

    async def _wait_for(self, attempt: Attempt, budget: float) -> float:
        """Only cooling attempts are left: wait for this one when its cooldown
        ends within the budget. Returns the seconds waited."""
        block = self.rt.router.block(attempt)
        if block is None:
            return 0.0
        seconds = block.until - self.rt.router.clock()
        if not 0 < seconds <= budget:
            return 0.0
        log.info("%s cools down for %.1f s more; waiting", attempt.label, seconds)
        await asyncio.sleep(seconds)
        return seconds

    async def _attempt(self, decision: Decision, attempt: Attempt, is_last: bool) -> None:
        """Run one attempt (once more on the same target for a stale
        connection or a refused thinking signature) and report how it went."""
        router, job = self.rt.router, self.job
        self.record.attempts.append(attempt.label)
        router.started(attempt)
        started = time.monotonic()
        retried = False
        while True:
            runner = (
                NativeRun(job, attempt, self.reply, is_last)
                if attempt.native
                else ProviderRun(job, attempt, self.reply)
            )
            try:
                headers = await runner.run()
            except UpstreamError as err:
                failure = classify(err) if not retried else classify(err).again()
                if failure.retry_same and not self.reply.content_sent:
                    retried = True
                    if failure.kind == "signature":
                        job = dataclasses.replace(job, body=without_thinking(job.body))
                        job.body_bytes = dumps(job.body)
                    log.info("%s: %s, retrying once", attempt.label, failure.kind)
                    continue
                err.falls_back = failure.falls_back
                if failure.falls_back and not self.reply.content_sent:
                    self.record.failures.append(f"{attempt.label}: {err.status}")
                headers = getattr(err, "headers", ())
                router.failed(self.config, decision, attempt, failure, headers)
                raise
            except BaseException:
                router.ended(attempt)
                raise
            ttft = self.reply.first_byte_ms_since(started)
            router.succeeded(decision, attempt, ttft, headers)
            usage.answered(
                self.record, attempt, runner.usage, headers,
                chars=runner.chars, credential=credential(job.inbound),
                native_url=job.inbound.original_url, estimate_input=self._estimate,
            )  # fmt: skip
            return

    # ---------------------------------------------------- answered here

    async def _count_tokens(self, decision: Decision) -> None:
        attempt = decision.attempts[0] if decision.attempts else None
        job = self.job
        if attempt is not None and attempt.native and job.inbound.original_url is not None:
            self.record.attempts.append("native")
            await NativeRun(job, attempt, self.reply, is_last=True).run()
            return
        if attempt is not None and attempt.provider is not None and attempt.model is not None:
            self.record.attempts.append(attempt.label)
            if attempt.provider.format == job.call.format:
                body = passthrough_body(job.call.format, job, attempt.model, None)
                req = self.rt.upstream.provider_request(
                    attempt, body, stream=False, kind="count_tokens"
                )
                try:
                    data, _ = await fetch(self.rt, req, attempt.label, attempt.provider.format)
                    return await self.reply.respond(200, data, "count_tokens")
                except UpstreamError as err:
                    log.info("%s cannot count tokens (%s); estimating", attempt.label, err.status)
        request = self._client().parse_request(job.body, model=job.call.model, stream=False)
        count = native.render_token_count(job.call.format, estimate_tokens(request))
        self.record.attempts.append("estimate")
        await self.reply.respond(200, dumps(count), "count_tokens")

    async def _stored(self) -> None:
        """A call on a stored response: from the store if it holds it."""
        store, call, inbound = self.rt.responses, self.job.call, self.job.inbound
        if call.kind == "conversation":
            return await self._conversation_call()
        response_id = call.resource or ""
        stored = history.held_response(store, response_id)
        native = inbound.original_url is not None
        if stored is None and not native:
            raise history.not_found(response_id)
        issuer_holds = native and call.kind == "delete" and stored is not None
        if stored is None or (issuer_holds and stored.origin.startswith("native:")):
            if stored is not None:
                store.delete(response_id)  # and the issuer deletes its own copy
            self.record.attempts.append("native")
            await NativeRun(self.job, Attempt(), self.reply, is_last=True).run()
            return
        self.record.attempts.append("store")
        if call.kind == "retrieve":
            return await self.reply.respond(200, dumps(stored.response))
        if call.kind == "delete":
            store.delete(response_id)
            return await self.reply.respond(200, dumps(history.deleted(response_id)))
        page = history.input_items_page(store, stored, inbound.path)
        await self.reply.respond(200, dumps(page))

    async def _conversation_call(self) -> None:
        """The Conversations API: held here, or OpenAI's own (native)."""
        inbound = self.job.inbound
        body: dict[str, Any] = {}
        if inbound.method == "POST" and inbound.body:
            body = parse_json(decode_body(inbound.body, inbound.header("content-encoding")))
        native = inbound.original_url is not None
        answer = history.conversation_answer(
            self.rt.responses, self.config, inbound.method, inbound.path, body, native
        )
        if answer is None:
            self.record.attempts.append("native")
            await NativeRun(self.job, Attempt(), self.reply, is_last=True).run()
            return
        self.record.attempts.append("store")
        await self.reply.respond(200, dumps(answer))

    async def _models(self) -> None:
        if self.job.inbound.original_url is not None:
            self.record.attempts.append("native")
            await NativeRun(self.job, Attempt(), self.reply, is_last=True).run()
            return
        names = native.catalog(self.config)
        await self.reply.respond(200, dumps(native.render_models(self.job.call.format, names)))

    # --------------------------------------------------------------- helpers

    def _log_inbound(self, entry: reqlog.ExchangeLog) -> None:
        inbound = self.job.inbound
        where = inbound.original_url or inbound.path
        entry.head("client request", f"{inbound.method} {where}", inbound.headers)
        try:
            body = decode_body(inbound.body, inbound.header("content-encoding"))
        except EngineError:
            body = inbound.body
        entry.body("client request", body)

    def _redact_all(self, text: str) -> str:
        """Configured keys and the client's own credential."""
        secret = (usage.credential(self.job.inbound) or "").split(" ", 1)[-1]  # Bearer x -> x
        if len(secret) >= 8:
            text = text.replace(secret, "***")
        return self._redact(text)

    def _redact(self, text: str) -> str:
        for provider in self.config.providers.values():
            for key in provider.keys:
                secret = key.get_secret_value()
                if len(secret) >= 8:
                    text = text.replace(secret, "***")
        return text

    def _log(self) -> None:
        r = self.record
        tokens = f" tokens {r.input_tokens}/{r.output_tokens}" if r.input_tokens is not None else ""
        ttft = f" first byte {r.first_byte_ms:.0f} ms" if r.first_byte_ms is not None else ""
        error = f" error: {r.error}" if r.error else ""
        if self._skipped:
            error += f" [skipped {', '.join(self._skipped)}]"
        log.info(
            "%s %s %s: %s %d%s in %.0f ms%s%s",
            r.client,
            r.kind,
            r.id,
            r.route,
            r.status,
            ttft,
            r.duration_ms or 0,
            tokens,
            error,
        )
