"""The fake provider's HTTP side: one tornado handler per endpoint, the shared
state (script queue, request log) and the application that routes to them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import struct
import threading
import time
from collections.abc import Iterable
from typing import Any

import tornado.iostream
import tornado.web

from . import anthropic, gemini, openai_chat, openai_responses
from .common import Ctx, dumps
from .record import Recorded, collect_headers
from .replies import DEFAULT_REPLY, Reply
from .upstream import last_assistant_text

DEFAULT_MODELS = ["fake-model", "gpt-4o", "claude-test-1", "gemini-2.5-flash"]


class State:
    """The script queue and the request log, shared by the server thread and the test."""

    def __init__(self, default: Reply, accept_keys: Iterable[str] | None, models: list[str]):
        self.lock = threading.Condition()
        self.queue: list[Reply] = []
        self.default = default
        self.accept_keys = set(accept_keys) if accept_keys else None
        self.models = models
        self.log: list[Recorded] = []

    def next_reply(self) -> Reply:
        with self.lock:
            return self.queue.pop(0) if self.queue else self.default

    def record(self, rec: Recorded) -> None:
        with self.lock:
            self.log.append(rec)
            self.lock.notify_all()

    def changed(self) -> None:
        with self.lock:
            self.lock.notify_all()


class Base(tornado.web.RequestHandler):
    state: State
    fmt = "?"

    def initialize(self, state: State) -> None:
        self.state = state
        self.rec: Recorded | None = None

    def prepare(self) -> None:
        body: Any = None
        if self.request.body:
            try:
                body = json.loads(self.request.body)
            except ValueError:
                body = None
        self.rec = Recorded(
            method=self.request.method or "",
            path=self.request.path,
            query={k: v[-1].decode() for k, v in self.request.query_arguments.items()},
            headers=collect_headers(self.request.headers.get_all()),
            body=body,
            raw=self.request.body,
            format=self.fmt,
        )
        if not self.request.path.startswith("/_fake/"):
            self.state.record(self.rec)

    def on_connection_close(self) -> None:
        if self.rec and not self.rec.completed and not self.rec.dropped:
            self.rec.closed_early = True
            self.state.changed()

    def send_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("content-type", "application/json")
        self.finish(dumps(obj))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.send_json(self.error_body(status_code, self._reason), status_code)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return openai_chat.error_body(status, message)

    def key_ok(self) -> bool:
        accept = self.state.accept_keys
        if accept is None:
            return True
        h = self.request.headers
        auth = h.get("authorization", "")
        given = {
            auth[7:] if auth.lower().startswith("bearer ") else auth,
            h.get("x-api-key", ""),
            h.get("x-goog-api-key", ""),
            self.get_query_argument("key", ""),
        }
        return bool(given & accept)


class ModelCall(Base):
    """A model call in one format: bad input and keys checked, then the scripted reply."""

    renderer: Any
    content_type = "text/event-stream; charset=utf-8"

    def model_name(self) -> str:
        body = self.rec.body if self.rec and isinstance(self.rec.body, dict) else {}
        return str(body.get("model", ""))

    def is_stream(self) -> bool:
        return bool(isinstance(self.rec.body, dict) and self.rec.body.get("stream"))

    def frames(self, reply: Reply, ctx: Ctx) -> Iterable[bytes]:
        return self.renderer.events(reply, ctx)

    def mid_stream_error(self, ctx: Ctx, message: str) -> bytes:
        return self.renderer.mid_stream_error(ctx, message)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return self.renderer.error_body(status, message)

    async def post(self, *args: str) -> None:
        assert self.rec is not None
        self.rec.stream = self.is_stream()
        if not isinstance(self.rec.body, dict):
            return self.send_json(self.error_body(400, "Request body is not valid JSON."), 400)
        if not self.key_ok():
            return self.send_json(self.error_body(401, "Invalid API key (fake provider)."), 401)
        reply = self.state.next_reply()
        prefix = self.prefix()
        if isinstance(prefix, dict):
            return self.send_json(prefix, 400)
        if reply.continues:
            reply = self.continued(reply)
        elif prefix and (reply.text or "").startswith(prefix):
            reply = dataclasses.replace(reply, text=reply.text[len(prefix):] or None,
                                        text_deltas=None)  # fmt: skip
        self.rec.reply = reply
        if reply.drop_connection:
            return self.drop()
        if reply.fault == "reset":
            return self.drop(reset=True)
        if reply.delay_first_byte:
            await asyncio.sleep(reply.delay_first_byte)
        for name, value in reply.headers.items():
            self.set_header(name, value)
        if reply.status != 200:
            message = reply.error_message or f"Scripted error {reply.status} (fake provider)."
            return self.send_json(self.error_body(reply.status, message), reply.status)
        ctx = Ctx(model=self.model_name(), body=self.rec.body)
        if reply.fault == "empty":
            self.set_header(
                "content-type", self.content_type if self.rec.stream else "application/json"
            )
            self.done()
            return self.finish()
        if self.rec.stream:
            await self.stream(reply, ctx)
        elif reply.drop_mid_stream:  # half the body, then the connection closes
            data = dumps(self.renderer.body(reply, ctx)).encode()
            cut = len(data) // 2 if reply.cut_at is None else reply.cut_at
            self.set_header("content-type", "application/json")
            self.set_header("content-length", str(len(data)))
            self.write(data[:cut])
            await self.flush()
            self.drop()
        else:
            self.done()  # before the last write: the client may look at once
            self.send_json(self.renderer.body(reply, ctx))

    def prefix(self) -> str | dict[str, Any]:
        """Chat prefix completion (DeepSeek, Mistral): a last assistant message
        with ``"prefix": true`` is the start of the answer, which the model goes
        on from (the reply is what follows it). ``prefix`` on any other message:
        the 400 body DeepSeek answers with."""
        assert self.rec is not None and isinstance(self.rec.body, dict)
        messages = self.rec.body.get("messages") if self.fmt == "openai-chat" else None
        if not isinstance(messages, list):
            return ""
        marked = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("prefix")]
        if not marked:
            return ""
        if marked != [len(messages) - 1] or messages[-1].get("role") != "assistant":
            return self.error_body(400, "prefix is only allowed on the last assistant message")
        return last_assistant_text(self.fmt, self.rec.body)

    def continued(self, reply: Reply) -> Reply:
        """``Reply.continues``: only what follows the partial turn the request carries."""
        assert self.rec is not None and isinstance(self.rec.body, dict)
        partial = last_assistant_text(self.fmt, self.rec.body)
        text = reply.text or ""
        if partial and text.startswith(partial):
            text = text[len(partial):]
        return dataclasses.replace(reply, text=text or None, text_deltas=None, continues=False)

    preamble = 1
    """Frames this format sends before any content (message_start, a role chunk...)."""

    def fault_bytes(self, reply: Reply, ctx: Ctx) -> bytes:
        if reply.fault == "malformed_sse":
            return b"<html><body>502 Bad Gateway</body></html>\n"
        if reply.fault == "bad_json":
            return b'event: content_block_delta\ndata: {"type": "content_block_delta", "del\n\n'
        return self.mid_stream_error(ctx, reply.error_message or "Overloaded")

    async def stall(self, seconds: float) -> None:
        gone = asyncio.Event()
        self.on_connection_close = gone.set  # type: ignore[method-assign]
        try:
            await asyncio.wait_for(gone.wait(), seconds)
        except TimeoutError:
            pass
        if self.rec:
            self.rec.closed_early = True
            self.state.changed()

    def broke(self) -> None:
        if self.rec:
            self.rec.broke_at = time.monotonic()

    def done(self) -> None:
        if self.rec:
            self.rec.completed = True
            self.state.changed()

    def drop(self, reset: bool = False) -> None:
        if self.rec:  # before closing: the client may look at once
            self.rec.dropped = True
            self.rec.broke_at = time.monotonic()
            self.state.changed()
        self._auto_finish = False
        stream = self.request.connection.stream  # type: ignore[attr-defined]
        if reset and stream.socket is not None:  # linger 0: the close sends a RST
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stream.close()

    async def stream(self, reply: Reply, ctx: Ctx) -> None:
        assert self.rec is not None
        self.set_header("content-type", self.content_type)
        self.set_header("cache-control", "no-cache")
        frames: Iterable[bytes] = (  # lazy: the first frame goes at once
            self.frames(reply, ctx)
            if reply.raw_events is None
            else [event.encode() for event in reply.raw_events]
        )
        cut = -1
        if reply.error_mid_stream or reply.drop_mid_stream or reply.fault:
            frames = list(frames)
            cut = max(2, len(frames) // 2) if reply.cut_at is None else reply.cut_at
            if reply.fault not in (None, "stall_mid_stream"):
                cut = self.preamble
        try:
            if cut == 0:
                await self.flush()  # the head alone
            for i, frame in enumerate(frames):
                if i == cut:
                    self.broke()
                    if reply.fault == "stall_mid_stream":
                        await self.stall(reply.stall)
                        return
                    if reply.drop_mid_stream or reply.fault == "drop_after_preamble":
                        return self.drop()
                    self.write(self.fault_bytes(reply, ctx))
                    break
                if i and reply.delay_between:
                    await asyncio.sleep(reply.delay_between)
                if i == self.preamble and reply.think:  # (the head and preamble went out)
                    await asyncio.sleep(reply.think)
                self.write(frame)
                await self.flush()
                self.rec.events_sent = i + 1
            self.done()  # before the last write: the client may look at once
            self.finish()
        except tornado.iostream.StreamClosedError:
            self.rec.closed_early = True
            self.state.changed()


class Chat(ModelCall):
    fmt = "openai-chat"
    renderer = openai_chat


class Responses(ModelCall):
    fmt = "openai-responses"
    renderer = openai_responses
    preamble = 2  # response.created, response.in_progress

    def get(self) -> None:
        # Codex first tries a WebSocket here; the real API upgrades, we refuse plainly.
        self.send_json(self.error_body(426, "WebSockets are not supported here."), 426)


class Messages(ModelCall):
    fmt = "anthropic"
    renderer = anthropic

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return anthropic.error_body(status, message, request_id=f"req_fake{id(self) % 10**8}")

    def send_json(self, obj: Any, status: int = 200) -> None:
        self.set_header("request-id", f"req_fake{id(self) % 10**8}")
        super().send_json(obj, status)


class CountTokens(Messages):
    async def post(self, *args: str) -> None:
        assert self.rec is not None
        if not isinstance(self.rec.body, dict):
            return self.send_json(self.error_body(400, "Request body is not valid JSON."), 400)
        if not self.key_ok():
            return self.send_json(self.error_body(401, "Invalid API key (fake provider)."), 401)
        self.done()
        self.send_json(anthropic.count_tokens(self.rec.body))


class Gemini(ModelCall):
    fmt = "gemini"
    renderer = gemini
    preamble = 0  # the first chunk already carries content

    async def post(self, version: str, model: str, method: str) -> None:
        self.gemini_model, self.method = model, method
        if method == "countTokens":
            assert self.rec is not None
            body = self.rec.body if isinstance(self.rec.body, dict) else {}
            self.done()
            return self.send_json(gemini.count_tokens(body))
        await super().post()

    def model_name(self) -> str:
        return self.gemini_model

    def is_stream(self) -> bool:
        return self.method == "streamGenerateContent"

    @property
    def sse_mode(self) -> bool:
        return self.get_query_argument("alt", "") == "sse"

    @property
    def content_type(self) -> str:  # type: ignore[override]
        return "text/event-stream" if self.sse_mode else "application/json; charset=UTF-8"

    def frames(self, reply: Reply, ctx: Ctx) -> Iterable[bytes]:
        return gemini.events(reply, ctx) if self.sse_mode else gemini.array_events(reply, ctx)

    def mid_stream_error(self, ctx: Ctx, message: str) -> bytes:
        return gemini.mid_stream_error(ctx, message, self.sse_mode)


class Models(Base):
    def get(self, model: str | None = None) -> None:
        ids = self.state.models
        if not self.key_ok():  # what `omniroute doctor` checks a key with
            return self.send_json(self.error_body(401, "Invalid API key (fake provider)."), 401)
        if self.request.path.startswith("/v1beta"):
            listing = gemini.models(ids)
            if model:
                return self.send_json(listing["models"][0] | {"name": f"models/{model}"})
            return self.send_json(listing)
        if "anthropic-version" in self.request.headers:
            listing = anthropic.models(ids)
            return self.send_json(listing["data"][0] | {"id": model} if model else listing)
        listing = openai_chat.models(ids)
        return self.send_json(listing["data"][0] | {"id": model} if model else listing)


class Control(Base):
    def get(self, what: str) -> None:
        if what == "requests":
            return self.send_json([r.to_json() for r in self.state.log])
        if what == "health":
            return self.send_json({"ok": True})
        raise tornado.web.HTTPError(404)

    def post(self, what: str) -> None:
        data = json.loads(self.request.body or b"{}")
        with self.state.lock:
            if what == "script":
                replies = [Reply.from_json(r) for r in data.get("replies", [])]
                if not data.get("append"):
                    self.state.queue.clear()
                self.state.queue.extend(replies)
            elif what == "default":
                self.state.default = Reply.from_json(data)
            elif what == "reset":
                self.state.queue.clear()
                self.state.log.clear()
                self.state.default = DEFAULT_REPLY
            else:
                raise tornado.web.HTTPError(404)
        self.send_json({"ok": True, "queued": len(self.state.queue)})


class NotFound(Base):
    def prepare(self) -> None:
        super().prepare()
        self.send_json(openai_chat.error_body(404, f"Unknown path {self.request.path}"), 404)


def _quiet(handler: tornado.web.RequestHandler) -> None:
    pass


def make_app(state: State, gzip: bool = False, verbose: bool = False) -> tornado.web.Application:
    kw = {"state": state}
    gem = r"/(v1|v1beta)/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)"
    return tornado.web.Application(
        [
            (r"/v1/chat/completions", Chat, kw),
            (r"/v1/responses", Responses, kw),
            (r"/v1/messages", Messages, kw),
            (r"/v1/messages/count_tokens", CountTokens, kw),
            (gem, Gemini, kw),
            (r"/(?:v1|v1beta)/models", Models, kw),
            (r"/(?:v1|v1beta)/models/([^/:]+)", Models, kw),
            (r"/_fake/(\w+)", Control, kw),
        ],
        default_handler_class=NotFound,
        default_handler_args=kw,
        compress_response=gzip,
        decompress_request=True,
        **({} if verbose else {"log_function": _quiet}),
    )


RENDERERS: dict[str, Any] = {
    "openai-chat": openai_chat, "openai-responses": openai_responses,
    "anthropic": anthropic, "gemini": gemini,
}  # fmt: skip


def frames(fmt: str, reply: Reply) -> list[bytes]:
    """The frames a streamed ``reply`` is sent as in ``fmt`` (Gemini: ``alt=sse``):
    what a test counts to put ``Reply.cut_at`` at a chosen place."""
    return list(RENDERERS[fmt].events(reply, Ctx(model="m", body={"stream": True})))
