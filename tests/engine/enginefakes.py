"""A scripted upstream (a second tornado app on loopback) and a harness that
calls the engine as its front does."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass, field
from textwrap import dedent

import httpx
from omniroute_mitm.engine.core.config import Config, parse_config
from omniroute_mitm.engine.core.headers import SECRET_HEADER
from omniroute_mitm.engine.serve.server import Engine
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler


@dataclass
class Reply:
    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    delay: float = 0.0
    """Seconds before the status line."""
    gap: float = 0.0
    """Seconds between chunks."""
    hang: bool = False
    """After the chunks, wait until the client goes away."""
    cut: bool = False
    """After the chunks, drop the connection without ending the body."""


@dataclass
class Seen:
    method: str
    uri: str
    headers: dict[str, str]
    body: bytes


class FakeUpstream:
    def __init__(self) -> None:
        self.replies: dict[str, deque[Reply]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self.closed = asyncio.Event()
        self.sent = 0
        """Body bytes the upstream has handed to its socket so far."""
        self.port = 0
        self._server: HTTPServer | None = None

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path].extend(replies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sockets = bind_sockets(0, "127.0.0.1")
        app = Application([(r"/.*", _FakeHandler, {"fake": self})], log_function=lambda h: None)
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.stop()
        await self._server.close_all_connections()


class _FakeHandler(RequestHandler):
    def initialize(self, fake: FakeUpstream) -> None:
        self.fake = fake
        self.gone = asyncio.Event()

    def on_connection_close(self) -> None:
        self.gone.set()
        self.fake.closed.set()

    async def get(self) -> None:
        await self.post()

    async def post(self) -> None:
        req = self.request
        headers = {k.lower(): v for k, v in req.headers.items()}
        self.fake.seen.append(Seen(req.method or "", req.uri or "", headers, req.body))
        queue = self.fake.replies.get(req.path)
        reply = queue.popleft() if queue else Reply(404, [b'{"error":{"message":"not scripted"}}'])
        await asyncio.sleep(reply.delay)
        self.set_status(reply.status)
        for name, value in reply.headers.items():
            self.set_header(name, value)
        for chunk in reply.chunks:
            self.write(chunk)
            await self.flush()
            self.fake.sent += len(chunk)
            await asyncio.sleep(reply.gap)
        if reply.cut:
            self.request.connection.close()
            return
        if reply.hang:
            await asyncio.wait_for(self.gone.wait(), 30)
            return
        self.finish()


def make_config(text: str, upstream: FakeUpstream) -> Config:
    return parse_config(dedent(text).replace("UPSTREAM", upstream.url), env={})


CLIENT_CREDENTIAL = "sk-harness-client"
"""What a client sends when a test gives none: a call from the front must carry
a credential (engine.core.access), any value."""
_CREDENTIAL_NAMES = {"authorization", "x-api-key", "x-goog-api-key"}


def with_credential(path: str, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the client's credential added unless it has one."""
    if _CREDENTIAL_NAMES & {name.lower() for name in headers} or "key=" in path:
        return headers
    return {**headers, "authorization": f"Bearer {CLIENT_CREDENTIAL}"}


class Harness:
    """A started engine plus an httpx client that speaks to it as the front."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.client = httpx.AsyncClient(base_url=engine.url or "", timeout=10, verify=False)

    def headers(self, **extra: str) -> dict[str, str]:
        return with_credential(path="", headers={SECRET_HEADER: self.engine.secret, **extra})

    async def post(self, path: str, body: object = None, *, content: bytes | None = None, **kw):
        headers = with_credential(path, {SECRET_HEADER: self.engine.secret,
                                         **kw.pop("headers", {})})
        if content is None:
            return await self.client.post(path, json=body, headers=headers, **kw)
        return await self.client.post(path, content=content, headers=headers, **kw)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.engine.stop()


class EngineThread:
    """An engine on its own thread and event loop, for blocking SDK clients."""

    def __init__(self, config: Config, **kw: object) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self.engine = Engine(config, **kw)  # type: ignore[arg-type]
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(lambda: (self.engine.start(), started.set()))
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.engine.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
