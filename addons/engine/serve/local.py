"""What the engine answers itself: model lists, token counts, and calls on
stored responses and conversations (from the response store, else native)."""

from __future__ import annotations

import logging
from typing import Any

from omniroute_mitm.engine.core.calls import decode_body, dumps, parse_json
from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.errors import UpstreamError
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.execute.attempts import Job, NativeRun, fetch
from omniroute_mitm.engine.route.plan import Attempt
from omniroute_mitm.engine.route.router import Decision
from omniroute_mitm.engine.stream.reply import ClientReply
from omniroute_mitm.engine.translate import responses
from omniroute_mitm.engine.translate.shaping import passthrough_body
from omniroute_mitm.translators import WireFormat, estimate_tokens

from .runtime import Runtime

log = logging.getLogger(__name__)


class LocalAnswers:
    """One exchange's calls that no provider answers (or only natively)."""

    def __init__(
        self, rt: Runtime, job: Job, reply: ClientReply, record: Record, client: WireFormat
    ) -> None:
        self.rt, self.job, self.reply, self.record, self.client = rt, job, reply, record, client

    async def count_tokens(self, decision: Decision) -> None:
        attempt = decision.attempts[0] if decision.attempts else None
        job = self.job
        if attempt is not None and attempt.native and job.inbound.original_url is not None:
            self.record.attempts.append("native")
            await NativeRun(job, attempt, self.reply, is_last=True).run()
            return
        if attempt is not None and attempt.provider is not None and attempt.model is not None:
            self.record.attempts.append(attempt.label)
            if attempt.provider.format == job.call.format:
                body = passthrough_body(job.call.format, job.asked(), attempt.model, None)
                req = self.rt.upstream.provider_request(
                    attempt, body, stream=False, kind="count_tokens"
                )
                try:
                    data, _ = await fetch(self.rt, req, attempt.label, attempt.provider.format)
                    return await self.reply.respond(200, data, "count_tokens")
                except UpstreamError as err:
                    log.info("%s cannot count tokens (%s); estimating", attempt.label, err.status)
        request = self.client.parse_request(job.body, model=job.call.model, stream=False)
        count = render_token_count(job.call.format, estimate_tokens(request))
        self.record.attempts.append("estimate")
        await self.reply.respond(200, dumps(count), "count_tokens")

    async def stored(self) -> None:
        """A call on a stored response: from the store if it holds it."""
        store, call, inbound = self.rt.responses, self.job.call, self.job.inbound
        if call.kind == "conversation":
            return await self.conversation()
        response_id = call.resource or ""
        stored = responses.held_response(store, response_id)
        native = inbound.original_url is not None
        if stored is None and not native:
            raise responses.not_found(response_id)
        issuer_holds = native and call.kind == "delete" and stored is not None
        if stored is None or (issuer_holds and stored.origin.startswith("native:")):
            if stored is not None:
                store.delete(response_id)  # and the issuer deletes its own copy
                await store.settle()
            self.record.attempts.append("native")
            await NativeRun(self.job, Attempt(), self.reply, is_last=True).run()
            return
        self.record.attempts.append("store")
        if call.kind == "retrieve":
            return await self.reply.respond(200, dumps(stored.response))
        if call.kind == "delete":
            store.delete(response_id)
            await store.settle()  # another instance asked next must not find it
            return await self.reply.respond(200, dumps(responses.deleted(response_id)))
        page = responses.input_items_page(store, stored, inbound.path)
        await self.reply.respond(200, dumps(page))

    async def conversation(self) -> None:
        """The Conversations API: held here, or OpenAI's own (native)."""
        inbound = self.job.inbound
        body: dict[str, Any] = {}
        if inbound.method == "POST" and inbound.body:
            encoding = inbound.header("content-encoding")
            body = parse_json(decode_body(inbound.body, encoding, self.rt.max_body))
        native = inbound.original_url is not None
        answer = responses.conversation_answer(
            self.rt.responses, self.rt.config, inbound.method, inbound.path, body, native
        )
        if answer is None:
            self.record.attempts.append("native")
            await NativeRun(self.job, Attempt(), self.reply, is_last=True).run()
            return
        self.record.attempts.append("store")
        if inbound.method != "GET":
            await self.rt.responses.settle()
        await self.reply.respond(200, dumps(answer))

    async def models(self) -> None:
        if self.job.inbound.original_url is not None:
            self.record.attempts.append("native")
            await NativeRun(self.job, Attempt(), self.reply, is_last=True).run()
            return
        names = catalog(self.rt.config)
        await self.reply.respond(200, dumps(render_models(self.job.call.format, names)))


def catalog(config: Config) -> list[str]:
    """Model names a direct client can ask for: combos, then provider/model."""
    names = sorted(config.combos)
    for name, provider in sorted(config.providers.items()):
        names += [f"{name}/{model}" for model in provider.models or []]
    return names


def render_models(fmt: str, names: list[str]) -> dict[str, object]:
    """A model list in the client's format."""
    if fmt == "gemini":
        methods = ["generateContent", "streamGenerateContent", "countTokens"]
        models = [
            {"name": f"models/{n}", "displayName": n, "supportedGenerationMethods": methods}
            for n in names
        ]
        return {"models": models}
    if fmt == "anthropic":
        data = [
            {"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"}
            for n in names
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    entries: list[dict[str, object]] = [
        {"id": n, "object": "model", "created": 0, "owned_by": "omniroute"} for n in names
    ]
    return {"object": "list", "data": entries}


def render_token_count(fmt: str, tokens: int) -> dict[str, object]:
    if fmt == "gemini":
        return {"totalTokens": tokens}
    return {"input_tokens": tokens}
