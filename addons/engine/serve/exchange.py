"""One request through the engine: route, walk the attempts, record.

:class:`Exchange` is independent of the HTTP server: it writes to a
:class:`Sink` (the tornado handler) through a :class:`ClientReply` and reads
an :class:`Inbound` request. The router decides the attempts; each one runs
itself (:mod:`..execute.attempts`); the outcome of each goes back to the router.
What the engine answers without a provider (model lists, token counts, stored
responses) is :mod:`.local`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from omniroute_mitm.engine.core import endpoints
from omniroute_mitm.engine.core.calls import (
    STORED_KINDS,
    Call,
    decode_body,
    dumps,
    model_and_stream,
    parse_json,
)
from omniroute_mitm.engine.core.errors import BadRequest, ClientGone, EngineError, UpstreamError
from omniroute_mitm.engine.core.headers import RECORD_HEADER, ROUTE_HEADER
from omniroute_mitm.engine.core.inbound import Inbound, Sink
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.core.toplevel import TopLevel
from omniroute_mitm.engine.execute.attempts import Broken, Job, NativeRun, ProviderRun
from omniroute_mitm.engine.execute.webtools import loop as webloop
from omniroute_mitm.engine.execute.webtools.loop import WebToolsRun
from omniroute_mitm.engine.record import reqlog, usage
from omniroute_mitm.engine.record.usage import credential
from omniroute_mitm.engine.route import web as web_route
from omniroute_mitm.engine.route.affinity import conversation_id
from omniroute_mitm.engine.route.failures import classify
from omniroute_mitm.engine.route.plan import Attempt
from omniroute_mitm.engine.route.policy import Member, member
from omniroute_mitm.engine.route.router import Decision, RouteRequest
from omniroute_mitm.engine.stream.reply import ClientReply
from omniroute_mitm.engine.translate import responses
from omniroute_mitm.engine.translate.codeassist import unwrap_code_assist
from omniroute_mitm.engine.translate.thinking import without_thinking
from omniroute_mitm.translators import (
    TranslationError,
    WireFormat,
    estimate_tokens,
    get_format,
    web,
)
from omniroute_mitm.translators.provenance import all_native

from . import announce
from .local import LocalAnswers
from .runtime import Runtime

__all__ = ["RECORD_HEADER", "ROUTE_HEADER", "Exchange"]

log = logging.getLogger(__name__)

SPLIT_FORMATS = ("anthropic", "gemini", "openai-chat", "openai-responses")
"""Client formats whose body is split at its top level, not parsed whole,
until a step needs it all (a translation, a continuation): a long
conversation passed through to a provider of the same format is never
parsed. A Responses body is parsed when it uses the API's state
(previous_response_id, a stored response, compaction: responses.stateless)."""


class Exchange:
    def __init__(
        self, rt: Runtime, call: Call, inbound: Inbound, sink: Sink, call_id: str | None = None
    ) -> None:
        self.rt = rt
        self.call_id = call_id
        """The front's id of this call (an engine child's): its record is announced by it."""
        self.config = rt.config
        self.record: Record = rt.records.new(call.format, call.kind)
        self.record.client_app = usage.client_app(inbound.header("user-agent"))
        self.member: Member | None = member(rt.config, inbound.user)
        if self.member is not None:
            self.record.user, self.record.group = self.member.user, self.member.group
        self._admitted = False
        """The policy let this request through: its cost counts (settle)."""
        catalog = endpoints.catalog(rt.config)
        self.record.endpoint = catalog.vendor(inbound.host) or inbound.host or ""
        self.key_style = catalog.key_style(inbound.host)
        self.redactor = reqlog.Redactor(rt.config, usage.credential(inbound, self.key_style))
        self.log_entry: reqlog.ExchangeLog | None = None
        if rt.request_log is not None:
            self.log_entry = rt.request_log.start(self.record.id, self.redactor.everything)
            sink = reqlog.LoggedSink(sink, self.log_entry)
        self.job = Job(rt, call, inbound)
        self.reply = ClientReply(
            sink, self.record, self._client, sse=call.sse, redact=self.redactor.keys
        )
        self._format: WireFormat | None = None
        self._estimated = False
        self._token_estimate: int | None = None
        self._skipped: list[str] = []
        """Attempts the router left out (open breakers), for the log line."""
        self._streaming = False
        """Counted in ``rt.streams`` (the in-flight streams gauge)."""

    def _client(self) -> WireFormat:
        if self._format is None:
            self._format = get_format(self.job.call.format)
        return self._format

    async def run(self) -> None:
        self.rt.exchanges += 1
        self.rt.exchanges_total += 1
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
        except RecursionError:  # JSON deep enough to pass the parser, not the translators
            await self.reply.fail(BadRequest("request body is nested too deeply"))
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
            if self._streaming:
                self.rt.streams -= 1
            usage.price_record(self.record, self.config)
            if self._admitted and self.member is not None:
                self.rt.router.policy.settle(self.member, self.record)
            self._observe()
            self.record.settled.set()
            if self.call_id is not None:
                announce.record(self.call_id, self.record.public())
            if self.rt.usage is not None:
                self.rt.usage.add(self.record, self.config)
            self._log()

    async def _dispatch(self) -> None:
        job = self.job
        if job.call.kind == "models":
            return await self._local().models()
        if job.call.kind in STORED_KINDS:
            return await self._local().stored()
        job.body_bytes = decode_body(
            job.inbound.body, job.inbound.header("content-encoding"), self.rt.max_body
        )
        if self._split(job):
            job.top = TopLevel.split(job.body_bytes)  # a passed-through body is never parsed
            if job.call.format == "openai-responses" and job.top is not None:
                if not responses.stateless(job.top, job.body_bytes, compact=job.call.compact):
                    job.top = None
        if job.top is None:
            job.body = parse_json(job.body_bytes)  # (a bad body: its 400 now)
        conversation = conversation_id(job.call.format, job.inbound.headers, job.view)
        if job.call.envelope:  # Gemini CLI's Code Assist: the Gemini request inside
            job.call, job.body = unwrap_code_assist(job.call, job.body)
            job.body_bytes, self.reply.wrapped = dumps(job.body), True
        job.model, job.stream = model_and_stream(job.call, job.view)
        self.reply.model = job.model
        self.record.model, self.record.stream = job.model, job.stream
        if job.stream:
            self.rt.streams += 1  # (down again where the record is closed)
            self._streaming = True
        request = RouteRequest(
            job.call.format, job.model, job.inbound.host, conversation, self._tokens
        )
        counters = self.rt.router.policy.keys(self.member) if self.member is not None else []
        await self.rt.router.prefetch(self.config, request, counters)  # one round trip
        decision = self.rt.router.decide(self.config, request)
        self.record.target = decision.target
        if job.call.kind == "generate":
            asked = job.members(*web.MEMBERS)
            tools = web.requested(job.call.format, asked)
            decision.attempts, skipped = web_route.filter_attempts(
                self.config,
                job.call.format,
                tools,
                decision.attempts,
                offered=bool(tools) and web.offered(job.call.format, asked),
            )
            decision.skipped.extend(skipped)
        self._skipped = decision.skipped
        if self.member is not None and job.call.kind == "generate":  # before any provider call
            decision.attempts = self.rt.router.policy.admit(
                self.member, job.model, decision.target, decision.attempts
            )
            self._admitted = True
        if job.call.format == "openai-responses" and job.call.kind == "generate":
            if job.top is None:  # (a split body was found stateless)
                self._responses_state(decision)
        if job.call.kind == "count_tokens":
            return await self._local().count_tokens(decision)
        await self._generate(decision)

    @staticmethod
    def _split(job: Job) -> bool:
        """Whether the body is split at its top level rather than parsed:
        its format passes bodies through by their bytes, and no signature
        in it must be dropped whatever the target (signatures all native go
        to the native destination only, and this one may be a provider)."""
        fmt = job.call.format
        return (
            fmt in SPLIT_FORMATS and not job.call.envelope and not all_native(fmt, job.body_bytes)
        )

    def _local(self) -> LocalAnswers:
        return LocalAnswers(self.rt, self.job, self.reply, self.record, self._client())

    def _estimate(self) -> int:
        """The prompt's estimated tokens (the usage of an answer without
        any), counted once per exchange."""
        if self.job.input_estimate is not None:
            return self.job.input_estimate
        try:
            request = self._client().parse_request(
                self.job.body, model=self.job.call.model, stream=False
            )
        except TranslationError:
            return 0
        self.job.input_estimate = estimate_tokens(request)
        return self.job.input_estimate

    def _tokens(self) -> int | None:
        """Estimated input plus maximum output (for context-fit); a chained
        Responses request counts the stored conversation too. Asked by the
        router only when a strategy needs it, once."""
        if not self._estimated:
            self._estimated, self._token_estimate = True, self._estimate_tokens()
        return self._token_estimate

    def _estimate_tokens(self) -> int | None:
        body = self.job.body
        if self.job.call.format == "openai-responses":
            body = responses.with_history(self.rt.responses, body)
        try:
            request = self._client().parse_request(body, model=self.job.call.model, stream=False)
        except TranslationError:
            return None
        return estimate_tokens(request) + (request.max_tokens or 0)

    def _responses_state(self, decision: Decision) -> None:
        """previous_response_id, stored responses and compaction (engine.history):
        decided once here, before the attempts run."""
        job = self.job
        conv, decision.attempts = responses.begin(
            self.rt.responses,
            job.body,
            decision.attempts,
            job.inbound,
            self.record,
            compact=job.call.compact,
        )
        if conv.watching:
            self.reply.sink = responses.Watch(self.reply.sink, conv)
        if conv.changed:
            job.body_bytes = dumps(job.body)
            job.inbound = responses.rewritten(job.inbound, job.body_bytes)

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
            except Broken as broken:
                return await self._continue(decision, decision.attempts[i:], broken)
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

    async def _continue(self, decision: Decision, rest: list[Attempt], broken: Broken) -> None:
        """A stream broke after content: ask again (the same target once,
        else the combo's next targets the router lets through) with what the
        client got as the partial turn, spliced into its open stream. A break
        that cannot be continued ends the client's stream as it always did."""
        router, made = self.rt.router, 0
        while made < self.config.resilience.max_continuations and broken.continuable:
            if broken.called:
                return await self._close_calls(broken)
            made += 1
            same, *others = rest
            candidates = [same, *(a for a in others if not a.native and router.block(a) is None)]
            for attempt in candidates:  # a client gone cancels the exchange: never continued
                log.info(
                    "%s broke after %d events (%s): continuing on %s",
                    broken.run.label, broken.events, broken.reason, attempt.label,
                )  # fmt: skip
                try:
                    await self._attempt(decision, attempt, False, resume=broken)
                except Broken as again:
                    self._continued(attempt, broken)
                    broken, rest = again, rest[rest.index(attempt) :]
                    break
                except UpstreamError as err:
                    log.info("continuing on %s failed (%s)", attempt.label, err.status)
                    continue
                self._continued(attempt, broken)
                return
            else:
                break
        await self._end_broken(broken)

    async def _close_calls(self, broken: Broken) -> None:
        """Whole tool calls reached the client before the break (a call cut
        short was held back): a request cannot end on a tool call without
        its result, so the turn ends here as a tool call turn; the model
        sees the results and calls again what it still needs."""
        note = f"ended with its whole tool calls after {broken.events} events ({broken.reason})"
        self.record.continued.append(note)
        await self.reply.sink.send(broken.translator.close_turn("tool_use"))
        usage.answered(
            self.record, broken.run.attempt, broken.translator.spent(), (),
            chars=run_chars(broken), credential=credential(self.job.inbound, self.key_style),
            native_url=None, estimate_input=self._estimate,
        )  # fmt: skip

    def _continued(self, attempt: Attempt, broken: Broken) -> None:
        note = f"continued on {attempt.label} after {broken.events} events ({broken.reason})"
        self.record.continued.append(note)

    async def _end_broken(self, broken: Broken) -> None:
        """No continuation: the error ends the client's stream; what was
        answered is recorded as without continuations."""
        await broken.end(self.reply)
        usage.answered(
            self.record, broken.run.attempt, broken.translator.spent(), (),
            chars=run_chars(broken), credential=credential(self.job.inbound, self.key_style),
            native_url=None, estimate_input=self._estimate,
        )  # fmt: skip

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

    async def _attempt(
        self, decision: Decision, attempt: Attempt, is_last: bool, resume: Broken | None = None
    ) -> None:
        """Run one attempt (once more on the same target for a stale
        connection or a refused thinking signature) and report how it went.
        ``resume``: the attempt continues a broken stream."""
        router, job = self.rt.router, self.job
        self.record.attempts.append(attempt.label)
        router.started(attempt)
        started = time.monotonic()
        retried = False
        resilience = self.config.resilience
        continuable = resilience.continue_ and resilience.max_continuations > 0
        while True:
            runner: NativeRun | ProviderRun | WebToolsRun
            if attempt.native:
                runner = NativeRun(job, attempt, self.reply, is_last)
            elif webloop.engine_runs(job, attempt, self.rt):
                runner = WebToolsRun(job, attempt, self.reply, self.rt,
                                     continuable=continuable, resume=resume)  # fmt: skip
            else:
                runner = ProviderRun(
                    job, attempt, self.reply, continuable=continuable, resume=resume,
                    stall=resilience.stall_timeout,
                )  # fmt: skip
            try:
                headers = await runner.run()
            except UpstreamError as err:
                cause = err.cause if isinstance(err, Broken) else err
                failure = classify(cause) if not retried else classify(cause).again()
                # (a continuation has not sent anything of its own yet)
                fresh = not self.reply.content_sent or resume is not None
                if failure.retry_same and fresh and not isinstance(err, Broken):
                    retried = True
                    if failure.kind == "signature":
                        job = dataclasses.replace(job, parsed=without_thinking(job.body), top=None)
                        job.body_bytes = dumps(job.body)
                    log.info("%s: %s, retrying once", attempt.label, failure.kind)
                    continue
                err.falls_back = failure.falls_back
                if failure.falls_back and not self.reply.content_sent:
                    self.record.failures.append(f"{attempt.label}: {err.status}")
                    self.record.failure_kinds.append(failure.kind)
                headers = getattr(err, "headers", ())
                router.failed(self.config, decision, attempt, failure, headers)
                raise
            except BaseException as exc:
                router.ended(attempt)
                if isinstance(exc, asyncio.CancelledError | ClientGone) and runner.sent:
                    got, chars = runner.so_far()
                    usage.cut_short(
                        self.record, attempt, got,
                        chars=chars, credential=credential(job.inbound),
                        native_url=job.inbound.original_url, estimate_input=self._estimate,
                    )  # fmt: skip
                raise
            # a continuation's first byte went out before it began: no ttft of its own
            ttft = self.reply.first_byte_ms_since(started) if resume is None else None
            router.succeeded(decision, attempt, ttft, headers)
            usage.answered(
                self.record, attempt, runner.usage, headers,
                chars=runner.chars, credential=credential(job.inbound, self.key_style),
                native_url=job.inbound.original_url, estimate_input=self._estimate,
            )  # fmt: skip
            return

    # --------------------------------------------------------------- helpers

    def _observe(self) -> None:
        try:
            self.rt.metrics.observe(self.record, self.config)
        except Exception:  # metrics must never break a request
            log.exception("metrics: cannot count request %d", self.record.id)

    def _log_inbound(self, entry: reqlog.ExchangeLog) -> None:
        inbound = self.job.inbound
        where = inbound.original_url or inbound.path
        entry.head("client request", f"{inbound.method} {where}", inbound.headers)
        try:
            body = decode_body(inbound.body, inbound.header("content-encoding"), self.rt.max_body)
        except EngineError:
            body = inbound.body
        entry.body("client request", body)

    def _log(self) -> None:
        r = self.record
        tokens = f" {r.summary()}" if r.tokens is not None else ""  # as the flow comment says
        ttft = f" first byte {r.first_byte_ms:.0f} ms" if r.first_byte_ms is not None else ""
        error = f" error: {r.error}" if r.error else ""
        if r.continued:
            error += f" [{'; '.join(r.continued)}]"
        if self._skipped:
            error += f" [skipped {', '.join(self._skipped)}]"
        who = f" user {r.user}" if r.user else ""
        log.info(
            "%s %s %s%s: %s %d%s in %.0f ms%s%s",
            r.client,
            r.kind,
            r.id,
            who,
            r.route,
            r.status,
            ttft,
            r.duration_ms or 0,
            tokens,
            error,
        )


def run_chars(broken: Broken) -> int:
    sent = broken.translator.sent
    return sent.chars if sent is not None else 0
