"""The engine's web tool loop: a client's web search (and fetch) for a target
that has no such tool of its own.

The target gets function tools instead (:mod:`.rounds`). When the model calls
one, the engine runs the search on the configured backend (or fetches the
page), hands the results back as the tool's result and asks again, up to
the client's ``max_uses``; after that the model is told no more are allowed.
The client sees what its own vendor would send: the search call and its
results as the format's native blocks (through the translators), then the
model's answer, streamed as it comes. A call to one of the client's own
tools ends the loop and reaches the client as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from omniroute_mitm.engine.core.calls import dumps
from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.errors import UpstreamError, UpstreamStreamError
from omniroute_mitm.engine.route.failures import empty_answer
from omniroute_mitm.engine.route.plan import Attempt
from omniroute_mitm.engine.stream.holdback import ContentWatch, HoldBack
from omniroute_mitm.engine.stream.reply import ClientReply
from omniroute_mitm.engine.translate.codeassist import CodeAssistStream
from omniroute_mitm.engine.translate.shaping import for_target, with_partial_turn
from omniroute_mitm.translators import (
    StreamTranslator,
    TranslationError,
    WireFormat,
    estimate_tokens,
    get_format,
    web,
)
from omniroute_mitm.translators.canonical import (
    WEB_FETCH,
    WEB_SEARCH,
    Env,
    Message,
    Part,
    Request,
    Text,
    ToolCall,
    ToolChoice,
    ToolResult,
    WebFetchResult,
    WebSearchCall,
    WebSearchResults,
)
from omniroute_mitm.translators.stream import Accumulator, custom_tool_names, restore_custom_calls

from ..attempts import Broken, Headers, Job, Services, falls_back
from .fetch import FetchError
from .rounds import Rounds, WebTools, argument, fetch_text, search_text, swap_tools, web_tools
from .search import Scope, SearchError
from .service import Web

log = logging.getLogger(__name__)

DEFAULT_MAX_USES = 5
"""Searches (and fetches) per request when the client names no ``max_uses``."""
FETCH_CHARS = 100_000
"""A fetched page's text is cut here for the model (``max_content_tokens`` x 4 when given)."""


class WebServices(Services, Protocol):
    @property
    def config(self) -> Config: ...
    @property
    def web(self) -> Web: ...


def engine_runs(job: Job, attempt: Attempt, rt: WebServices) -> bool:
    """Whether the engine runs the client's web tools on this attempt: the
    request has some, the target does not run them all itself (a target of
    the client's own format gets the body as sent), and the engine has what
    they need (a search backend for a search; the fetcher is always there)."""
    if attempt.native or attempt.provider is None or job.call.kind != "generate":
        return False
    client, target = job.call.format, attempt.provider.format
    tools = web.requested(client, job.members(*web.MEMBERS))
    if not tools or all(web.honours(target, client, tool) for tool in tools):
        return False
    # a search with no backend reaches here only offered (else the route refused it):
    # the target goes without it, unless a fetch needs the engine anyway
    return (
        WEB_SEARCH not in tools
        or rt.web.backend(rt.config.web_search) is not None
        or (WEB_FETCH in tools and not web.honours(target, client, WEB_FETCH))
    )


NO_BACKEND = (
    "Web search is not set up on this gateway (no web_search.backend in its config.yaml), "
    "so no search was run. Tell the user you could not search the web, then answer as "
    "well as you can without it."
)
"""What the model reads for a search only offered when no backend is configured."""


@dataclass(slots=True)
class _Uses:
    searches: int = 0
    fetches: int = 0


class WebToolsRun:
    """One attempt on a target that runs the client's web tools through the
    engine (the interface of :class:`~..attempts.ProviderRun`)."""

    def __init__(
        self,
        job: Job,
        attempt: Attempt,
        reply: ClientReply,
        rt: WebServices,
        *,
        continuable: bool = False,
        resume: Broken | None = None,
    ) -> None:
        assert attempt.provider is not None and attempt.model is not None
        self.job, self.attempt, self.reply, self.rt = job, attempt, reply, rt
        self.continuable = continuable and job.stream and not reply.wrapped
        """A break after content in the first round (before the loop ran a
        tool) raises :class:`Broken`, the client's stream kept open."""
        self.resume = resume
        """The break this run continues: its first round carries the partial
        turn (by instruction: the rounds after it follow that turn)."""
        self.label = attempt.label
        self.provider = get_format(attempt.provider.format)
        self.client = reply.client
        self.issuer = attempt.provider_name or attempt.label
        self.usage: Any = None
        self.chars = 0
        self.sent = False
        self.uses = _Uses()
        self._watch: ContentWatch | None = None
        self._rounds: Rounds | None = None
        self._rounds_run = 0
        """Rounds whose tool calls the loop ran (a break after one is not continued)."""
        self._known: list[str] = []
        """Text of the conversation and of what the loop found: URLs the
        model may fetch appear in it (a prompt cannot make it send data out)."""

    def so_far(self) -> tuple[Any, int]:
        rounds, watch = self._rounds, self._watch
        return (rounds.usage if rounds else None), (watch.chars if watch else self.chars)

    # ----------------------------------------------------------------- run

    async def run(self) -> Headers:
        request, tools = self._request()
        rounds = self._rounds = Rounds(tools)
        watch = self._watch = ContentWatch(
            self.rt.thoughts.observer(self.client.name, self.provider.name)
        )
        if self.job.stream:
            return await self._streamed(request, rounds, watch)
        return await self._whole(request, rounds)

    def _request(self) -> tuple[Request, WebTools]:
        job, attempt = self.job, self.attempt
        assert attempt.model is not None and attempt.provider is not None
        request = self.client.parse_request(job.body, model=job.call.model, stream=job.call.stream)
        request.model, request.stream = attempt.model, True
        if attempt.provider.max_tokens:
            cap = attempt.provider.max_tokens
            request.max_tokens = min(request.max_tokens or cap, cap)
        self._custom = custom_tool_names(request)
        self._input_tokens = estimate_tokens(request)
        for_target(request, self.client, self.provider, self.issuer, self.rt.thoughts)
        tools = web_tools(request)
        assert tools is not None
        swap_tools(request, tools)
        if self.resume is not None:
            with_partial_turn(request, "instruction", self.resume.partial)
        self._known.append(_conversation_text(request))
        return request, tools

    async def _streamed(self, request: Request, rounds: Rounds, watch: ContentWatch) -> Headers:
        source = _Source(self.provider, rounds)
        if self.resume is not None:
            translator = self.resume.translator.resume(
                source, self.reply.env, on_events=watch, issuer=self.attempt.provider_name,
                custom_tools=self._custom,
            )  # fmt: skip
        else:
            kind = CodeAssistStream if self.reply.wrapped else StreamTranslator
            translator = kind(
                source, self.client, self.reply.env,
                model=self.job.model, input_tokens=self._input_tokens, sse=self.job.call.sse,
                custom_tools=self._custom,
                on_events=watch, issuer=self.attempt.provider_name,
                **({"continuable": True} if self.continuable else {}),
            )  # fmt: skip
        held = HoldBack(self.reply, translator, watch, falls_back)

        async def out(chunk: bytes | None) -> None:
            if chunk is None:
                await held.emit(translator.finish())
            else:
                await held.take(chunk, translator.feed)

        try:
            headers = await self._rounds_loop(request, rounds, out)
        except UpstreamError as err:
            if not self.reply.content_sent:
                raise
            if (
                translator.continuable
                and translator.broken is None
                and (translator.stop_reason is None)
            ):
                await held.emit(translator.break_off(err.info()))
                raise self._broken(err, translator) from None
            self.reply.record.error = err.message
            await self.reply.sink.send(translator.fail(self.reply.error_info(err)))
            headers = ()
        if translator.broken is not None:  # an in-stream error held for a continuation
            if not self.reply.content_sent:
                raise UpstreamStreamError(translator.broken)
            raise self._broken(UpstreamStreamError(translator.broken), translator)
        if not self.reply.content_sent:
            raise empty_answer(self.label)  # nothing at all came: another target may answer
        if self.resume is not None and translator.usage is not None:
            rounds.usage = translator.usage  # (spliced: the attempts before it added)
        self.usage, self.chars = rounds.usage, watch.chars
        if translator.error is not None:
            self.reply.record.error = translator.error.message
        return headers

    def _broken(self, err: UpstreamError, translator: StreamTranslator) -> Broken:
        """A break after content. Continued only in the first round: once the
        loop ran a tool, a continuation would have to carry the rounds'
        conversation (their calls and results), which it does not."""
        broken = Broken(err, self, translator)  # type: ignore[arg-type]
        broken.resumable = self._rounds_run == 0
        return broken

    async def _whole(self, request: Request, rounds: Rounds) -> Headers:
        answer = Accumulator()

        async def out(chunk: bytes | None) -> None:
            answer.feed_all(rounds.feed(chunk) if chunk is not None else rounds.finish())

        headers = await self._rounds_loop(request, rounds, out)
        if rounds.error is not None:
            raise UpstreamStreamError(rounds.error)
        response = answer.response
        if not response.parts and not rounds.started:
            raise empty_answer(self.label)
        response.model, response.usage = self.job.model, rounds.usage
        restore_custom_calls(response, self._custom)
        self.usage = rounds.usage
        self.chars = sum(len(p.text) for p in response.parts if isinstance(p, Text))
        await self.reply.respond(200, dumps(self.client.render_response(response, self.reply.env)))
        return headers

    async def _rounds_loop(self, request: Request, rounds: Rounds, out: _Out) -> Headers:
        limit = self._limit(rounds.tools)
        headers: Headers = ()
        for n in range(limit):
            if n == limit - 1:  # the last round answers, whatever the model wanted
                request.tool_choice = ToolChoice("none")
            headers = await self._round(request, rounds, out)
            if rounds.error is not None or not rounds.calls:
                break
            if n == limit - 1:
                if not rounds.client_calls:
                    rounds.stop_reason = "stop"  # its calls were not run: none reach the client
                break
            results = await self._run_calls(rounds)
            self._rounds_run += 1
            await out(b"")  # the search blocks, to the client now
            if rounds.client_calls:
                break  # the client runs its own tools; it sends the results back
            request.messages += [
                Message("assistant", rounds.said.response.parts),
                Message("user", list(results)),
            ]
            if request.tool_choice is not None and request.tool_choice.mode != "none":
                request.tool_choice = None  # a forced call was made: the model may answer now
        await out(None)
        return headers

    def _limit(self, tools: WebTools) -> int:
        searches = (tools.search.max_uses or DEFAULT_MAX_USES) if tools.search else 0
        fetches = (tools.fetch.max_uses or DEFAULT_MAX_USES) if tools.fetch else 0
        return searches + fetches + 2  # one more to hear "no more", one to answer

    async def _round(self, request: Request, rounds: Rounds, out: _Out) -> Headers:
        body = dumps(self.provider.render_request(request, self.reply.env))
        upstream = self.rt.upstream
        req = upstream.provider_request(self.attempt, body, stream=True)
        rounds.next_round(self.provider.stream_decoder(self.reply.env))
        self.sent = True
        async with upstream.open(req, self.label) as resp:
            if resp.status_code >= 400:
                raise await upstream.error_body(resp, self.label, self.provider.name)
            try:
                async for chunk in upstream.chunks(resp, self.label):
                    await out(chunk)
                rounds.end_round()
            except TranslationError as exc:
                why = f"{self.label}: unreadable stream: {exc}"
                raise UpstreamError(502, why, "server") from None
            return tuple((k.lower(), v) for k, v in resp.headers.multi_items())

    # --------------------------------------------------------------- the tools

    async def _run_calls(self, rounds: Rounds) -> Sequence[ToolResult]:
        results: list[ToolResult] = []
        for call in rounds.calls:
            kind = rounds.tools.names[call.name]
            if kind == WEB_FETCH:
                shown, text, failed = await self._fetch(call, rounds)
            else:
                shown, text, failed = await self._search(call, rounds)
            rounds.inject(shown)
            results.append(ToolResult(call.id, [Text(text)], is_error=failed, name=call.name))
        return results

    async def _search(self, call: ToolCall, rounds: Rounds) -> tuple[list[Part], str, bool]:
        tool = rounds.tools.search
        query = argument(call, "query")
        made = WebSearchCall(self.reply.env.new_id("srvtoolu_"), query=query or "")
        error, text = None, ""
        backend = self.rt.web.backend(self.rt.config.web_search)
        limit = (tool.max_uses if tool else None) or DEFAULT_MAX_USES
        if query is None:
            error, text = "invalid_input", "Give the search a non-empty `query` string."
        elif self.uses.searches >= limit:
            error = "max_uses_exceeded"
            text = (f"The limit of {limit} searches for this request is reached. "
                    "Answer now from the results you have.")  # fmt: skip
        elif backend is None:
            error, text = "unavailable", NO_BACKEND
        else:
            self.uses.searches += 1
            rounds.count(searches=1)
            try:
                found = await backend.search(query, Scope.of(tool))
                results = WebSearchResults(made.id, found)
                text = search_text(results)
                self._known.append(text)
                log.debug("%s: web search %r: %d results", self.label, query, len(found))
                return [made, results], text, False
            except SearchError as exc:
                error, text = exc.code, f"The search failed ({exc.message})."
                log.warning("%s: web search failed: %s", self.label, exc.message)
        return [made, WebSearchResults(made.id, error=error)], text, True

    async def _fetch(self, call: ToolCall, rounds: Rounds) -> tuple[list[Part], str, bool]:
        tool = rounds.tools.fetch
        url = argument(call, "url")
        made = WebSearchCall(self.reply.env.new_id("srvtoolu_"), WEB_FETCH, url=url or "")
        limit = (tool.max_uses if tool else None) or DEFAULT_MAX_USES
        error, why = self._fetch_refusal(url, limit, tool)
        if error is None and url is not None:
            self.uses.fetches += 1
            rounds.count(fetches=1)
            try:
                page = await self.rt.web.fetcher().fetch(url)
            except FetchError as exc:
                error, why = exc.code, exc.message
            else:
                tokens = tool.max_content_tokens if tool else None
                cap = tokens * 4 if tokens else FETCH_CHARS
                result = WebFetchResult(made.id, page.final_url, page.text[:cap], page.title,
                                        page.media_type, _now_iso())  # fmt: skip
                self._known.append(page.text[:cap])
                log.debug("%s: web fetch %s: %d characters", self.label, url, len(result.text))
                return [made, result], fetch_text(result), False
        log.debug("%s: web fetch %s refused: %s", self.label, url, why)
        result = WebFetchResult(made.id, url or "", error=error)
        return [made, result], f"The page was not fetched ({why}).", True

    def _fetch_refusal(self, url: str | None, limit: int, tool: Any) -> tuple[str | None, str]:
        if url is None:
            return "invalid_input", "give the fetch a `url` string"
        if self.uses.fetches >= limit:
            return "max_uses_exceeded", f"the limit of {limit} fetches for this request is reached"
        if tool is not None and not Scope(tool.allowed_domains, tool.blocked_domains).admits(url):
            return "url_not_allowed", "the URL is outside the allowed domains"
        if not any(url in text or url.rstrip("/") in text for text in self._known):
            return "url_not_allowed", "only URLs from the conversation or search results"
        return None, ""


class _Out(Protocol):
    async def __call__(self, chunk: bytes | None) -> None: ...


class _Source:
    """The provider side a client's StreamTranslator reads: the target's
    format, its stream spliced from the rounds (:class:`Rounds`)."""

    def __init__(self, provider: WireFormat, rounds: Rounds) -> None:
        self._provider, self._rounds = provider, rounds

    @property
    def name(self) -> Any:
        return self._provider.name

    def stream_decoder(self, env: Env) -> Rounds:
        return self._rounds


def _conversation_text(request: Request) -> str:
    pieces = [t.text for t in request.system]
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text):
                pieces.append(part.text)
            elif isinstance(part, ToolResult):
                pieces += [p.text for p in part.content if isinstance(p, Text)]
            elif isinstance(part, WebSearchResults):
                pieces += [r.url for r in part.results]
            elif isinstance(part, ToolCall):
                pieces.append(part.arguments)
    return "\n".join(pieces)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
