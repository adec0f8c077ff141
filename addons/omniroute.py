"""omniroute: reroute AI clients' native model calls through config.yaml.

    mitmdump -s addons/omniroute.py [--set omniroute_config=path/to/config.yaml]

Only the AI hosts are decrypted; their model calls are redirected to the
engine on loopback, which routes, translates and streams; everything else
passes untouched. Each routed flow's comment says where it went. The engine
runs in its own process by default (a second core), started and stopped with
mitmdump; ``omniroute_engine_mode=inprocess`` keeps it in mitmproxy's loop.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
try:
    import translators  # noqa: F401
except ImportError:  # not installed: mitmdump -s puts only addons/ on sys.path
    sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
from engine import db, summary  # noqa: E402
from engine.clients import offline_answer  # noqa: E402
from engine.process import EngineProcess, can_spawn  # noqa: E402
from engine.recordclient import RecordClient  # noqa: E402
from engine.reqlog import RequestLog  # noqa: E402
from mitmproxy import addonmanager, contentviews, ctx, exceptions, http  # noqa: E402
from mitmproxy.options import CONF_DIR  # noqa: E402
from sse_view import ModelStreamView  # noqa: E402

log = logging.getLogger(__name__)

COPY_CAP = 1024 * 1024
PROJECT_CA = ROOT / "certs"
ALLOW_AI_HOSTS = r"^(" + "|".join(h.replace(".", r"\.") for h in engine.AI_HOSTS) + r"):\d+$"
MODES = ("process", "inprocess")
READY_TIMEOUT = 30.0  # how long a model call waits for a starting engine


OPTIONS: list[tuple[str, type, object, str]] = [
    ("omniroute_config", str, str(ROOT / "config.yaml"),
     "The omniroute config file (providers, combos, routes)."),
    ("omniroute_engine_url", str, "",
     "Use an engine started with `python -m engine` at this URL instead of one in mitmproxy."),
    ("omniroute_engine_secret_file", str, "",
     "The secret file of the engine at omniroute_engine_url."),
    ("omniroute_engine_mode", str, "process",
     "process: the engine runs as mitmdump's child process (a second core); inprocess: in "
     "mitmproxy's event loop (debugging)."),
    ("omniroute_engine_port", int, 0,
     "Port of the engine on 127.0.0.1 (0: any free port)."),
    ("omniroute_engine_direct", bool, False,
     "Let clients with a base URL call the engine, with $OMNIROUTE_DIRECT_TOKEN "
     "as their API key."),
    ("omniroute_offline_clients", bool, False,
     "Answer the clients' side calls (settings, telemetry, model lists) without a network."),
    ("omniroute_data_dir", str, "",
     "Where the database lives (usage store, stored Responses API state); default "
     "$OMNIROUTE_DATA_DIR, else data/ in the repo."),
    ("omniroute_log_requests", bool, False,
     "Write each request and response (client and upstream, keys masked) as a file under "
     "omniroute_data_dir/requests, for bug reports (the last 500 kept)."),
    ("omniroute_store", str, db.DEFAULT_URL,
     "The engine's database: sqlite:///FILE (relative: under omniroute_data_dir), "
     "or none."),
]  # fmt: skip
MAGIC_HOST = "omniroute"
"""http://omniroute/<rest> through the proxy is the engine's /omniroute/<rest>."""


class CappedCopy:
    """A stream callable that passes data through and keeps the first ``cap``
    bytes, so mitmweb can show a streamed body."""

    def __init__(self, cap: int = COPY_CAP) -> None:
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    def __call__(self, data: bytes) -> bytes:
        room = self.cap - len(self.data)
        if len(data) > room:
            self.truncated = True
        if room > 0:
            self.data += data[:room]
        return data


class OmniRoute:
    def __init__(self) -> None:
        self.engine: engine.Engine | None = None  # in-process mode
        self.child: EngineProcess | None = None  # process mode
        self.config: engine.Config | None = None  # what the front loaded (process mode)
        self.mode = "process" if can_spawn() else "inprocess"
        self._running = False  # the child starts in `running` (taddons never gets there)
        self.engine_url = ""
        self.secret = ""
        self.config_path = ""
        self.stopping: asyncio.Future[None] | None = None
        self.rebinding: asyncio.Future[None] | None = None
        self._copies: dict[str, CappedCopy] = {}
        self._records = RecordClient()
        self._defaults_set = False
        self._rebind = False

    def load(self, loader: addonmanager.Loader) -> None:
        for name, typespec, default, help_text in OPTIONS:
            loader.add_option(name, typespec, default, help_text)
        contentviews.add(ModelStreamView())  # streams as events + the assembled answer

    def configure(self, updated: set[str]) -> None:
        if "omniroute_engine_mode" in updated:
            self._set_mode(ctx.options.omniroute_engine_mode)
        if updated & {"omniroute_engine_url", "omniroute_engine_secret_file"}:
            self._use_external_engine()
        if not self.engine_url:  # an external engine reads its own config
            if "omniroute_config" in updated or (
                self._loaded is None and "omniroute_engine_url" in updated
            ):
                self._load_config(ctx.options.omniroute_config)
            if "omniroute_log_requests" in updated and self.engine is not None:
                self.engine.runtime.request_log = _request_log()
            if "omniroute_engine_direct" in updated and self._loaded is not None:
                token = _direct_token()
                if self.engine is not None:
                    self.engine.direct_token = token
            if self._loaded is not None and _loop_running():
                self._start_engine(restart=bool(updated & CHILD_OPTIONS))
        if not self._defaults_set:
            self._defaults_set = True
            # lazy: nothing connects to the real host before the request hook.
            defaults: dict[str, object] = {}
            if "connection_strategy" in ctx.options:  # proxyserver's option
                defaults["connection_strategy"] = "lazy"
                if not ctx.options.listen_host:  # only loopback unless the user says so
                    defaults["listen_host"] = "127.0.0.1"
                    self._rebind = True
            if "web_columns" in ctx.options and "comment" not in ctx.options.web_columns:
                if ctx.options.web_columns == ctx.options.default("web_columns"):
                    # mitmweb, columns not chosen: show route, tokens and cost
                    defaults["web_columns"] = [*ctx.options.web_columns, "comment"]
            if not ctx.options.allow_hosts and not ctx.options.ignore_hosts:
                defaults["allow_hosts"] = [ALLOW_AI_HOSTS]  # decrypt only the AI hosts
            defaults.update(_project_confdir())
            ctx.options.update(**defaults)  # type: ignore[no-untyped-call]

    @property
    def _loaded(self) -> object | None:
        """The engine (in-process) or the config (process mode), once loaded."""
        return self.engine if self.mode == "inprocess" else self.config

    def _set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise _error(f"omniroute_engine_mode: {mode!r} is not one of {', '.join(MODES)}")
        if mode == "process" and not can_spawn():
            log.warning("omniroute: this mitmproxy has no Python to start the engine with; "
                        "running it in-process")
            mode = "inprocess"
        if mode == self.mode:
            return
        if self.child is not None or (self.engine is not None and self.engine.port is not None):
            raise _error("omniroute_engine_mode cannot change while mitmproxy runs: restart it")
        self.mode, self.engine, self.config = mode, None, None
        if self.config_path and not self.engine_url:
            self._load_config(self.config_path)

    def _load_config(self, path: str) -> None:
        try:
            config = engine.load_config(path)
        except engine.ConfigError as exc:
            if self._loaded is not None:  # at runtime: refuse, keep the old config
                raise _error(str(exc)) from None
            # At start-up, errors logged make mitmdump exit 1 (errorcheck),
            # with one clean line per problem instead of a traceback.
            for line in exc.lines:
                log.error(line)
            return
        for warning in config.warnings:
            log.warning(warning)
        self.config_path = path
        if self.mode != "inprocess":
            if self.config is not None:  # omniroute_config changed at runtime
                log.info("%s", summary.block("omniroute:", summary.config_lines(config, path)))
            self.config = config  # the child loads (and watches) the file itself
            return
        if self.engine is None:
            store = _store()
            responses = engine.open_responses(
                ctx.options.omniroute_data_dir or None, store, persist=store is not None
            )
            self.engine = engine.Engine(
                config, direct_token=_direct_token(), responses=responses, store=store
            )
        else:  # omniroute_config changed at runtime
            self.engine.set_config(config)
            log.info("%s", summary.block("omniroute:", summary.config_lines(config, path)))
        if self.engine.port is not None:
            self.engine.watch(path)

    def _use_external_engine(self) -> None:
        url = ctx.options.omniroute_engine_url
        if url and (urlsplit(url).scheme != "http" or not urlsplit(url).port):
            raise _error(f"Cannot parse omniroute_engine_url {url!r}: want http://HOST:PORT")
        if url:
            try:
                secret = Path(ctx.options.omniroute_engine_secret_file).read_text("utf-8")
            except OSError as exc:
                raise _error(f"Cannot read omniroute_engine_secret_file: {exc}") from None
            self.secret = secret.strip()
        self.engine_url = url.rstrip("/")

    def _start_engine(self, restart: bool = False) -> None:
        if self.mode != "inprocess":
            return self._start_child(restart)
        assert self.engine is not None
        if self.engine.port is None:
            self.engine.start(port=ctx.options.omniroute_engine_port)
            self.engine.watch(self.config_path)
            log.info("omniroute engine listening at %s", self.engine.url)

    def _start_child(self, restart: bool) -> None:
        if not self._running or (self.child is not None and not restart):
            return
        if self.child is not None:  # its command line changed: a new one
            asyncio.ensure_future(self.child.stop())
        args = ["--store", ctx.options.omniroute_store or "none"]
        if ctx.options.omniroute_log_requests:
            args.append("--log-requests")
        if ctx.options.omniroute_data_dir:
            args += ["--data-dir", ctx.options.omniroute_data_dir]
        self.child = EngineProcess(
            self.config_path,
            port=ctx.options.omniroute_engine_port,
            direct=bool(_direct_token()),
            args=args,
        )
        self.child.start()
        atexit.register(self.child.kill_now)

    def running(self) -> None:
        self._running = True
        if self._loaded is not None and not self.engine_url:
            self._start_engine()
        if self._rebind:
            self._rebind = False
            self.rebinding = asyncio.ensure_future(_rebind_servers(self._summary))
        else:
            self._summary()

    def _summary(self) -> None:
        """What is routed where, what is missing, which line each client needs."""
        if self._loaded is None and not self.engine_url:
            return  # the config did not load: its errors are logged, mitmdump exits
        path = ctx.options.omniroute_config
        config = self.engine.config if self.engine else self.config
        config = config or summary.load_quietly(path)
        setting = summary.make_setting(_proxy_address(), ctx.options.confdir)
        log.info("%s", summary.block("omniroute:", summary.startup_lines(config, path, setting)))

    def done(self) -> None:
        # Sync: a script reload calls done() from sync code (async raises there).
        if self.engine is not None and self.engine.port is not None:
            self.stopping = asyncio.ensure_future(self.engine.stop())
        self._records.close()
        if self.child is not None:
            child, self.child = self.child, None
            if _loop_running():
                self.stopping = asyncio.ensure_future(child.stop())
            else:
                child.kill_now()

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        req = flow.request
        host = req.pretty_host
        if host == MAGIC_HOST:
            return self._page(flow)
        if not engine.is_ai_host(host):
            return
        if engine.is_websocket_upgrade(req.method, req.path, req.headers):
            body = b'{"error":{"message":"use HTTP streaming (SSE), not WebSocket"}}'
            flow.response = http.Response.make(426, body, {"content-type": "application/json"})
            return
        call = engine.classify(req.method, req.path, host, req.headers)
        if call is None and ctx.options.omniroute_offline_clients:
            answer = offline_answer(req.method, host, req.path)  # never the vendor
            flow.response = http.Response.make(answer.status, answer.body, answer.headers)
            return
        if call is None or call.kind == "models":
            return
        destination = self._destination()
        if destination is None and self.child is not None:
            flow.intercept()  # the engine is (re)starting: this call waits for it
            asyncio.ensure_future(self._when_ready(flow))
            return
        if destination is not None:
            self._redirect(flow, destination)

    async def _when_ready(self, flow: http.HTTPFlow) -> None:
        child = self.child
        ready = child is not None and await child.wait_ready(READY_TIMEOUT)
        destination = self._destination()
        if ready and destination is not None:
            self._redirect(flow, destination)
        else:
            body = b'{"error":{"message":"omniroute: the engine did not start (see the log)"}}'
            flow.response = http.Response.make(502, body, {"content-type": "application/json"})
        flow.resume()

    def _redirect(self, flow: http.HTTPFlow, destination: tuple[str, str]) -> None:
        req = flow.request
        original = req.pretty_url
        target = urlsplit(destination[0])
        req.scheme = target.scheme  # scheme first: the host setter rewrites Host
        req.host = target.hostname or "127.0.0.1"
        req.port = target.port or 80
        req.headers[engine.SECRET_HEADER] = destination[1]
        req.headers[engine.ORIGINAL_URL_HEADER] = original
        flow.metadata["omniroute"] = original

    def _page(self, flow: http.HTTPFlow) -> None:
        """The engine's pages (dashboard, records), authenticated by the front."""
        destination = self._destination()
        if destination is None:
            body = b"omniroute: no engine is running (see the log)"
            flow.response = http.Response.make(503, body, {"content-type": "text/plain"})
            return
        req, target = flow.request, urlsplit(destination[0])
        rest = req.path.lstrip("/")
        req.scheme = target.scheme
        req.host = target.hostname or "127.0.0.1"
        req.port = target.port or 80
        req.path = "/omniroute/" + rest
        req.headers[engine.SECRET_HEADER] = destination[1]
        flow.metadata["omniroute_page"] = True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        original = flow.metadata.get("omniroute")
        if original is None or flow.response is None:
            return
        flow.request.headers.pop(engine.SECRET_HEADER, None)
        flow.request.headers.pop(engine.ORIGINAL_URL_HEADER, None)
        flow.request.url = original  # the log and mitmweb show what the client called
        route = flow.response.headers.pop(engine.ROUTE_HEADER, None) or "(engine gave no route)"
        record_id = flow.response.headers.pop(engine.RECORD_HEADER, "")
        if record_id.isdigit():
            flow.metadata["omniroute_record"] = int(record_id)
        flow.comment = f"{original} : {route}"
        self._copies[flow.id] = flow.response.stream = CappedCopy()

    async def response(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.pop("omniroute_page", None):
            flow.request.headers.pop(engine.SECRET_HEADER, None)
            return
        copy = self._copies.pop(flow.id, None)
        if copy is None or flow.response is None:
            return
        flow.response.raw_content = bytes(copy.data)
        record = await self._record(flow.metadata.get("omniroute_record"))
        if record is not None:
            annotate(flow, record)
        if copy.truncated:
            flow.comment += f" [body shown: first {copy.cap} bytes]"

    async def error(self, flow: http.HTTPFlow) -> None:
        copy = self._copies.pop(flow.id, None)
        if "omniroute" in flow.metadata or flow.metadata.pop("omniroute_page", None):
            flow.request.headers.pop(engine.SECRET_HEADER, None)
        if copy is not None and flow.response is not None:
            # e.g. the client hung up after the last event, before the end of the
            # body: the flow still shows what was sent, its tokens and cost
            flow.response.raw_content = bytes(copy.data)
            record = await self._record(flow.metadata.get("omniroute_record"))
            if record is not None:
                annotate(flow, record)

    async def _record(self, record_id: int | None) -> dict[str, Any] | None:
        """What the engine says request ``record_id`` did: asked over HTTP, the
        same whether the engine runs in this process, its own or elsewhere."""
        destination = self._destination()
        if record_id is None or destination is None:
            return None
        url, secret = destination
        return await self._records.get(url, secret, record_id)

    def _destination(self) -> tuple[str, str] | None:
        """The engine's URL and secret; None while no engine runs."""
        if self.engine_url:
            return self.engine_url, self.secret
        if self.child is not None:
            return (self.child.url, self.child.secret) if self.child.url else None
        if self.engine is None or self.engine.url is None:
            return None
        return self.engine.url, self.engine.secret


async def _rebind_servers(then: Callable[[], None]) -> None:
    """mitmproxy binds its listeners before a script's options apply: restart
    them so the loopback default of listen_host takes effect."""
    proxyserver = ctx.master.addons.get("proxyserver")
    if proxyserver is not None:
        ports = {addr[1] for server in proxyserver.servers for addr in server.listen_addrs}
        if not ctx.options.listen_port and len(ports) == 1:
            ctx.options.update(listen_port=ports.pop())  # -p 0: keep the port already announced
        await proxyserver.servers.update([])
        await proxyserver.setup_servers()
    then()


def _proxy_address() -> str | None:
    """host:port of the (first) regular proxy listener."""
    proxyserver = ctx.master.addons.get("proxyserver")
    for server in proxyserver.servers if proxyserver is not None else ():
        if server.mode.type_name == "regular" and server.listen_addrs:
            host, port = server.listen_addrs[0][:2]
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return None


def _project_confdir() -> dict[str, object]:
    """Use the project's name-constrained CA (certs/) unless the user chose a
    confdir. Without it, mitmproxy's own unconstrained CA would sign."""
    if ctx.options.confdir != CONF_DIR:
        return {}
    if not (PROJECT_CA / "mitmproxy-ca.pem").exists():
        log.warning(
            "no project CA in %s: run `python scripts/ca.py generate` (scripts/setup.sh does); "
            "using mitmproxy's own CA in %s for now",
            PROJECT_CA,
            CONF_DIR,
        )
        return {}
    return {"confdir": str(PROJECT_CA)}


def annotate(flow: http.HTTPFlow, record: dict[str, Any]) -> None:
    """Tokens and cost in the comment; a fallback or a failure marks the flow
    (mitmweb shows the mark in its list)."""
    if record.get("summary"):
        flow.comment += " " + str(record["summary"])
    if record.get("failed"):
        flow.marked = ":x:"
    elif record.get("fell_back"):
        flow.marked = ":twisted_rightwards_arrows:"


def _request_log() -> RequestLog | None:
    if not ctx.options.omniroute_log_requests:
        return None
    return RequestLog(db.data_dir(ctx.options.omniroute_data_dir) / "requests")


def _store() -> db.Store | None:
    url = ctx.options.omniroute_store
    if not url or url.lower() == "none":
        return None
    base = db.data_dir(ctx.options.omniroute_data_dir)
    try:
        return db.open_store(url, base=base)
    except db.StoreError as exc:  # one line (errorcheck makes mitmdump exit 1)
        log.error("omniroute_store: %s", exc)
        return None


def _error(message: str) -> exceptions.OptionsError:
    return exceptions.OptionsError(message)  # type: ignore[no-untyped-call]


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _direct_token() -> str | None:
    if not ctx.options.omniroute_engine_direct:
        return None
    token = os.environ.get("OMNIROUTE_DIRECT_TOKEN")
    if not token:
        raise _error("omniroute_engine_direct needs $OMNIROUTE_DIRECT_TOKEN")
    return token


CHILD_OPTIONS = {"omniroute_config", "omniroute_engine_direct", "omniroute_engine_port",
                 "omniroute_store", "omniroute_data_dir", "omniroute_log_requests"}
"""Options on the engine child's command line: changing one starts a new child."""

addons = [OmniRoute()]
