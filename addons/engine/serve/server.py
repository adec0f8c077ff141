"""The engine's HTTP server (tornado) on loopback, and :class:`Engine`.

Only the front may call it: each request must carry the per-run secret in
``x-omniroute-secret``. With a direct token configured, clients that use a
base URL (``ANTHROPIC_BASE_URL``...) may call it with that token as their
API key instead. A model call from the front must also carry its client's
own credential and come from no web page outside ``security.allowed_origins``
(:mod:`..core.access`), else it is refused in the client's format before it
is routed: no provider key is spent for it.

``GET /metrics`` (Prometheus) takes the front's secret or the direct token
as a bearer token: a scraper can hold a configured token, never the per-run
secret; without either it is refused like the pages under ``/omniroute/``
(a web page in a local browser must not read the engine's state).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx
from omniroute_mitm.engine.core import access, database, limits, prices
from omniroute_mitm.engine.core.arena import ArenaView
from omniroute_mitm.engine.core.calls import Call, classify, is_websocket_upgrade
from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.database import Store
from omniroute_mitm.engine.core.errors import ClientGone, EngineError, Forbidden
from omniroute_mitm.engine.core.headers import (
    BODY_AT_HEADER,
    CALL_HEADER,
    MAX_BODY_HEADER,
    ORIGINAL_URL_HEADER,
    ROUTE_HEADER,
    SECRET_HEADER,
    USER_HEADER,
)
from omniroute_mitm.engine.core.inbound import Inbound
from omniroute_mitm.engine.core.records import Records
from omniroute_mitm.engine.execute.upstream import Upstream
from omniroute_mitm.engine.record.reqlog import RequestLog
from omniroute_mitm.engine.record.router_metrics import RouterCollector
from omniroute_mitm.engine.record.usage import UsageLog
from omniroute_mitm.engine.route.router import Router
from omniroute_mitm.engine.translate.responses import ResponseStore
from omniroute_mitm.translators import FORMAT_NAMES, get_format
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders, format_timestamp
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler, stream_request_body

from . import announce, pages
from .confwatch import ConfigWatcher
from .exchange import Exchange
from .runtime import Runtime

if TYPE_CHECKING:
    from omniroute_mitm.engine.route.shared import SharedStore

log = logging.getLogger(__name__)

MAX_HEADERS = 2 * limits.MAX_HEADER_BLOCK
"""tornado's header block limit (the front answers a 431 from half of it)."""
NO_LIMIT = 1 << 62
"""tornado's own body limit: the handler enforces MAX_BODY itself, in the client's format."""
EXPIRE_INTERVAL = 300.0


def client_credential(headers: Any, query: dict[str, list[bytes]]) -> str | None:
    """The API key a client sent, in whichever header its SDK uses."""
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        if value := headers.get(name):
            return str(value)
    auth = str(headers.get("authorization", ""))
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if "key" in query:
        return query["key"][0].decode("utf-8", "replace")
    return None


def _same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class Engine:
    """Routing, translation and streaming behind a loopback HTTP server."""

    def __init__(
        self,
        config: Config,
        *,
        secret: str | None = None,
        direct_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ping_interval: float = 10.0,
        responses: ResponseStore | None = None,
        store: Store | None = None,
        request_log: RequestLog | None = None,
        max_body: int = limits.MAX_BODY,
        body_memory: int = limits.BODY_MEMORY,
        state: SharedStore | None = None,
    ) -> None:
        self.max_body = max_body
        self.bodies = BodyBudget(body_memory)
        self.arena: ArenaView | None = None
        """The front's shared memory of large bodies (an engine child: core.arena)."""
        self.secret = secret or secrets.token_urlsafe(32)
        self.direct_token = direct_token or None
        self.runtime = Runtime(config, Upstream(transport), Records(), ping_interval)
        self.runtime.max_body = max_body
        if responses is not None:
            self.runtime.responses = responses
        self.runtime.responses.limit(config.responses.max_age_days, config.responses.max_mb)
        self.store = store
        """The SQLite store (engine.db) shared by the engine's components, if any."""
        if store is not None:
            self.runtime.usage = UsageLog(store)
        self.runtime.request_log = request_log
        self.state = state
        """The router's shared state (None: this process's memory)."""
        if state is not None:
            self.runtime.router = Router(store=state)
        self.runtime.metrics.watch(
            RouterCollector(lambda: self.runtime.config, lambda: self.runtime.router, self._live)
        )
        self.port: int | None = None
        self.watcher: ConfigWatcher | None = None
        self._server: HTTPServer | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._expire_task: asyncio.Task[None] | None = None
        self._check_task: asyncio.Task[bool] | None = None

    def __repr__(self) -> str:
        return f"Engine(url={self.url!r})"

    @property
    def config(self) -> Config:
        return self.runtime.config

    def _live(self) -> dict[str, float]:
        """In-flight counts for the metrics, read when scraped."""
        rt = self.runtime
        return {"requests": rt.exchanges, "streams": rt.streams,
                "upstream": rt.upstream.open_requests}  # fmt: skip

    def set_config(self, config: Config) -> None:
        """New requests use ``config``; requests in flight keep theirs."""
        self.runtime.config = config
        self.runtime.responses.limit(config.responses.max_age_days, config.responses.max_mb)

    def log_requests(self, on: bool, data_dir: str | None) -> None:
        """Start or stop the request log (``omniroute_log_requests``) under ``data_dir``."""
        folder = database.data_dir(data_dir) / "requests"
        self.runtime.request_log = RequestLog(folder) if on else None

    @property
    def records(self) -> Records:
        return self.runtime.records

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port is not None else None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen (needs a running event loop); returns the port."""
        sockets = bind_sockets(port, host)
        app = Application([(r"/.*", EngineHandler, {"engine": self})], log_function=_no_log)
        self._server = HTTPServer(
            app, max_body_size=NO_LIMIT, max_header_size=MAX_HEADERS, idle_connection_timeout=300
        )
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self._expire_task = asyncio.ensure_future(self._expire_loop())
        if self.state is not None:
            self.state.start()
            self._check_task = asyncio.ensure_future(self.state.check())
        warm_up()
        return self.port

    async def _expire_loop(self, interval: float = EXPIRE_INTERVAL) -> None:
        """Expire stored responses now and then, off the request path."""
        while True:
            try:
                self.runtime.responses.expire()
            except Exception:  # a locked or full database: try again later
                log.exception("response store: expiry failed")
            await asyncio.sleep(interval)

    def watch(self, path: str | os.PathLike[str], interval: float = 1.0) -> None:
        """Reload the config from ``path`` when it changes; a bad edit keeps
        the current config and logs why (needs a running event loop)."""
        if self._watch_task is not None:
            self._watch_task.cancel()
        self.runtime.config_path = os.path.abspath(path)
        self.watcher = ConfigWatcher(path, self.set_config, current=self.config)
        self._watch_task = asyncio.ensure_future(self.watcher.run(interval))

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self._expire_task is not None:
            self._expire_task.cancel()
        if self._check_task is not None:
            self._check_task.cancel()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
        await self.runtime.upstream.aclose()
        await self.runtime.web.aclose()
        if self.state is not None:
            await self.state.close()  # sends what is queued, if the server answers
        self.runtime.responses.close()
        if self.store is not None:
            self.store.close()  # writes what is queued: nothing lost on a clean stop

    def authenticate(self, handler: RequestHandler) -> str | None:
        """'front', 'direct' or None (refused)."""
        headers = handler.request.headers
        if _same(headers.get(SECRET_HEADER), self.secret):
            return "front"
        if self.direct_token is not None:
            given = client_credential(headers, handler.request.query_arguments)
            if _same(given, self.direct_token):
                return "direct"
        return None


class BodyBudget:
    """A semaphore by bytes over the request bodies the engine holds: a body
    that does not fit is refused at once (a 429), never queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held = max(0, self.held - size)


def _user(value: str | None) -> str | None:
    """The proxy user the front names (percent-encoded; see front.identity)."""
    return unquote(value) if value else None


def warm_up() -> None:
    """Load now what the first request would (the formats, the price table:
    ~30-100 ms once), so the first call of a session does not wait for it."""
    for name in FORMAT_NAMES:
        get_format(name)
    prices.snapshot()


_DATE: list[Any] = [None, ""]


def _http_date() -> str:
    """The Date header's value, formatted once per second."""
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[0], _DATE[1] = now, format_timestamp(now)
    return str(_DATE[1])


def _no_log(handler: RequestHandler) -> None:
    """The pipeline logs one line per request itself."""


@stream_request_body
class EngineHandler(RequestHandler):
    """One request. Its body is read here as it arrives (``data_received``):
    one over the limit is read to its end and dropped, then refused in the
    client's format (413), as is one that does not fit the memory budget
    of the bodies held at once (429)."""

    SUPPORTED_METHODS = ("GET", "POST", "DELETE")

    def initialize(self, engine: Engine) -> None:
        self.engine = engine
        self._task: asyncio.Future[None] | None = None
        self._gone = False
        self._flush_soon = False
        self._flushing: asyncio.Future[None] | None = None
        self._cors: list[tuple[str, str]] = []
        """CORS headers for a page on security.allowed_origins."""
        self._chunks: list[bytes] = []
        self._size = 0
        self._held = 0  # bytes taken from the engine's body budget
        self._limit = engine.max_body
        self._refusal: EngineError | None = None

    def prepare(self) -> None:
        # Each SSE event is a small write: without TCP_NODELAY, Nagle and
        # delayed ACKs hold events back ~40 ms (tornado only sets it at finish).
        self.request.connection.stream.set_nodelay(True)  # type: ignore[union-attr]
        headers = self.request.headers
        front = headers.get(MAX_BODY_HEADER, "")
        if front.isdigit() and _same(headers.get(SECRET_HEADER), self.engine.secret):
            self._limit = min(self._limit, int(front))
        request = self.request
        if limits.header_block(request.method or "", request.uri or "", headers.get_all()) > (
            limits.MAX_HEADER_BLOCK
        ):
            self._refuse_body(EngineError(431, limits.HEADERS_TOO_LONG, "invalid_request"))
            return
        length = headers.get("content-length", "")
        if length.isdigit():
            self._take(int(length))
        at = headers.get(BODY_AT_HEADER)
        if at is not None:
            self._from_arena(at)

    def _from_arena(self, at: str) -> None:
        """The body the front placed in the shared memory (core.arena),
        copied out only once its size is allowed (a refused one never is)."""
        arena = self.engine.arena
        trusted = _same(self.request.headers.get(SECRET_HEADER), self.engine.secret)
        place = arena.place(at) if arena is not None and trusted else None
        if arena is None or place is None:
            self._refuse_body(EngineError(400, "omniroute: the request body did not reach "
                                          "the engine", "invalid_request"))  # fmt: skip
            return
        self._take(place[1])
        if self._refusal is None:
            self._size += place[1]
            self._chunks.append(arena.copy(*place))

    def _take(self, size: int) -> None:
        """Reserve ``size`` more bytes of body, or refuse the request."""
        if self._refusal is not None:
            return
        if self._size + size > self._limit:
            limit = limits.shown(self._limit)
            self._refuse_body(EngineError(
                413, f"omniroute: the request body is over the limit of {limit}",
                "request_too_large"))  # fmt: skip
        elif not self.engine.bodies.take(size):
            budget = self.engine.bodies
            self._refuse_body(EngineError(
                429, f"omniroute: too many large requests at once ({limits.shown(budget.held)} of "
                f"request bodies held, limit {limits.shown(budget.limit)}); retry shortly",
                "rate_limit"))  # fmt: skip
        else:
            self._held += size

    def _refuse_body(self, error: EngineError) -> None:
        """The rest of the body is read and dropped: the answer follows its end."""
        self._refusal = error
        self._chunks.clear()
        self._release()

    def _release(self) -> None:
        if self._held:
            self.engine.bodies.give(self._held)
            self._held = 0

    def data_received(self, chunk: bytes) -> None:
        if self._refusal is not None:
            return
        if self._held < self._size + len(chunk):  # no content-length (chunked)
            self._take(self._size + len(chunk) - self._held)
            if self._refusal is not None:
                return
        self._size += len(chunk)
        self._chunks.append(chunk)

    def on_finish(self) -> None:
        self._release()

    def clear(self) -> None:
        """tornado's reset of the response, without the Server and Content-Type
        headers it would add (the engine sets its own); its Date is formatted
        once a second, not on each of the two resets of every request."""
        self._headers = HTTPHeaders({"Date": _http_date()})
        self._write_buffer = []
        self._status_code = 200
        self._reason = "OK"

    async def get(self, *_: str) -> None:
        await self._serve()

    async def post(self, *_: str) -> None:
        await self._serve()

    async def delete(self, *_: str) -> None:
        await self._serve()

    def on_connection_close(self) -> None:
        self._gone = True
        self._release()
        if self._task is not None:
            self._task.cancel()  # cancels the upstream call with it

    async def _serve(self) -> None:
        req = self.request
        if (req.path or "").startswith(pages.PREFIX):
            return await self._page()
        if req.path == "/metrics" and req.method == "GET":
            return self._metrics()
        if is_websocket_upgrade(req.method or "", req.uri or "", req.headers):
            return self._plain(426, "use HTTP streaming (SSE), not WebSocket")
        call = classify(req.method or "", req.uri or "", None, req.headers)
        if call is None:
            return self._plain(404, f"no model endpoint at {req.method} {req.path}")
        how = self.engine.authenticate(self)
        if how is None:
            return self._refuse(call)
        if how == "front":  # an intercepted call: its credential and its page (core.access)
            allowed = self.engine.config.security.allowed_origins
            refused = access.refusal(call.format, req.headers, req.query or "", allowed)
            if refused is not None:
                return self._refuse_call(call, refused)
            origin = req.headers.get("origin")
            if origin is not None:  # an allowed page: it may read the answer
                self._cors = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if self._refusal is not None:
            log.warning("%s %s: %s", call.format, call.kind, self._refusal.message)
            return self._refuse(call, self._refusal)
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        if BODY_AT_HEADER in req.headers:  # (not before: tornado reads the body by this length)
            req.headers["Content-Length"] = str(len(body))
        inbound = Inbound(
            method=req.method or "POST",
            path=req.uri or "/",
            headers=list(req.headers.get_all()),
            body=body,
            original_url=req.headers.get(ORIGINAL_URL_HEADER) if how == "front" else None,
            user=_user(req.headers.get(USER_HEADER)) if how == "front" else None,
        )
        call_id = req.headers.get(CALL_HEADER) if how == "front" else None
        announce.routing(call_id)
        exchange = Exchange(self.engine.runtime, call, inbound, self, call_id)
        self._task = asyncio.ensure_future(exchange.run())
        try:
            await self._task
        except (asyncio.CancelledError, ClientGone):
            if not self._gone:
                raise
            return
        if not self._finished and not self._gone:
            self.finish()

    async def _page(self) -> None:
        """The engine's own pages (``http://omniroute/...`` through the front)."""
        if self.engine.authenticate(self) != "front":
            return self._plain(403, "only the omniroute front may read these pages")
        status, media, body = await pages.serve(
            self.engine.runtime, self.engine.store, self.request.path or "/",
            self.request.headers.get("accept"),
        )  # fmt: skip
        self._send_page(status, media, body)

    def _metrics(self) -> None:
        """``GET /metrics``: the front (its secret), or a scraper holding the
        direct token (``Authorization: Bearer``); the engine's other pages
        are the front's only."""
        if self.engine.authenticate(self) is None:
            why = "metrics: scrape http://omniroute/metrics through the proxy, or send the "
            return self._plain(403, why + "direct token as a bearer token")
        self._send_page(*pages.metrics(self.engine.runtime, self.request.headers.get("accept")))

    def _send_page(self, status: int, media: str, body: bytes) -> None:
        self.set_status(status)
        self.set_header("content-type", media)
        self.set_header("cache-control", "no-store")
        self.finish(body)

    def _refuse_call(self, call: Call, error: EngineError) -> None:
        """A call from the front that may not spend anything: no credential, or
        a web page's (the flow's comment shows why)."""
        log.info("%s %s refused: %s %s", call.format, call.kind, error.status, error.message)
        status, body = access.render(call.format, error)
        self.set_status(status)
        self.set_header("content-type", "application/json")
        self.set_header(ROUTE_HEADER, f"refused ({error.status})")
        self.finish(body)

    def _refuse(self, call: Call, error: EngineError | None = None) -> None:
        if error is None:
            error = Forbidden("this engine only serves its own mitmproxy front (or a direct token)")
        status, body = get_format(call.format).render_error(error.info())
        self.set_status(status)
        self.set_header("content-type", "application/json")
        self.finish(json.dumps(body))

    def _plain(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("content-type", "application/json")
        self.finish(json.dumps({"error": {"message": message}}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Never a traceback page."""
        self.set_header("content-type", "application/json")
        self.finish(json.dumps({"error": {"message": self._reason, "code": status_code}}))

    # ---------------------------------------------------------------- Sink

    @property
    def committed(self) -> bool:
        return self._headers_written or self._flush_soon

    def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.clear()
        self.set_status(status)
        for name, value in headers:
            self.add_header(name, value)
        for name, value in self._cors:
            self.set_header(name, value)

    async def send(self, data: bytes) -> None:
        """Write; what the events of one upstream read produced leaves in one
        flush (at the loop's next turn). While the connection is still busy
        with the previous flush, the sender waits for it (backpressure)."""
        if self._gone:
            raise ClientGone()
        if data:
            self.write(data)
        flushing = self._flushing
        if flushing is None or flushing.done():
            if not self._flush_soon:
                self._flush_soon = True
                asyncio.get_running_loop().call_soon(self._flush_now)
            return
        try:
            await flushing  # what was just written leaves when this one is done
        except StreamClosedError:
            self._gone = True
            raise ClientGone() from None

    def _flush_now(self) -> None:
        self._flush_soon = False
        busy = self._flushing is not None and not self._flushing.done()
        if self._finished or self._gone or busy:
            return  # a busy flush sends the rest when it is done (_flushed)
        if self._headers_written and not self._write_buffer:
            return
        self._start_flush()

    def _start_flush(self) -> None:
        # One flush at a time: tornado resolves only the latest write's future.
        self._flushing = self.flush()
        self._flushing.add_done_callback(self._flushed)

    def _flushed(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            self._gone = True  # the next send raises ClientGone
        elif self._write_buffer and not self._finished and not self._gone:
            self._start_flush()

    def abort(self) -> None:
        self._gone = True
        self.request.connection.close()  # type: ignore[union-attr]


__all__ = ["ORIGINAL_URL_HEADER", "SECRET_HEADER", "Engine", "EngineError"]
