"""omniroute: reroute AI clients' native model calls through config.yaml.

    mitmdump -s addons/omniroute.py [--set omniroute_config=path/to/config.yaml]

(``addons/omniroute.py`` only exports :class:`OmniRoute`; this module is the front.)

Only the AI hosts are decrypted (engine.core.endpoints: the builtin five,
the catalogued vendors and config.yaml's endpoints, less those the CA cannot
sign for); their model calls are redirected to the
engine on loopback, which routes, translates and streams; everything else
passes untouched. Each routed flow's comment says where it went. The engine
runs in its own process by default (a second core), started and stopped with
mitmdump; ``omniroute_engine_mode=inprocess`` keeps it in mitmproxy's loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import addonmanager, connection, contentviews, ctx, exceptions, http
from mitmproxy.options import CONF_DIR
from mitmproxy.utils import human
from omniroute_mitm.engine.core import (
    access,
    arena,
    database,
    endpoints,
    limits,
    paths,
    private,
    stateurl,
    summary,
    trust,
)
from omniroute_mitm.engine.core.calls import (
    AI_HOSTS,
    Call,
    classify,
    engine_path,
    is_websocket_upgrade,
)
from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.headers import (
    BODY_AT_HEADER,
    CALL_HEADER,
    ENGINE_PREFIX,
    FRONT_PORT_ENV,
    MAX_BODY_HEADER,
    ORIGINAL_URL_HEADER,
    RECORD_HEADER,
    ROUTE_HEADER,
    SECRET_HEADER,
)

from . import engine_loss, identity, listening
from .answers import client_error, stream_error
from .headwatch import HeadWatch
from .host import EngineHost
from .lost import LostUsage
from .offline import offline_answer
from .record_pages import RecordClient, RecordLines
from .sse_view import ModelStreamView

log = logging.getLogger(__name__)

COPY_CAP = 1024 * 1024
BODY_CHOICES = ("auto", "on", "off")
PROJECT_CA = paths.certs_dir()
ALLOW_AI_HOSTS = r"^(" + "|".join(h.replace(".", r"\.") for h in AI_HOSTS) + r"):\d+$"
"""The builtin five (the allow list is :func:`allow_pattern` of the hosts taken)."""
ROTATE = ".venv/bin/python scripts/ca.py generate --force"


def allow_pattern(hosts: tuple[str, ...] | list[str]) -> str:
    """mitmproxy's allow_hosts regex for exactly ``hosts`` (any port)."""
    return r"^(" + "|".join(re.escape(h) for h in hosts) + r"):\d+$"


READY_TIMEOUT = 30.0  # how long a model call waits for a starting engine
DEATH_WAIT = 2.0
"""How long a cut engine connection waits to learn whether the engine died."""
LINE_WAIT = 2.0
"""How long a finished flow waits for the record line of the engine child
(written as the call ends, just after its last bytes) before asking over HTTP."""
BODY_SLOT = "omniroute_body_slot"
"""flow.metadata: (slot, body, content-length) of a body the engine child
takes from the shared memory (engine.core.arena), until it has it."""
ROUTED = "omniroute_routed"
"""flow.metadata: the engine child announced it began routing the call (it
may have reached a provider: never sent again)."""
LOST_MESSAGE = ("omniroute: the engine stopped before this answer was complete (it restarts "
                "by itself); try again")  # fmt: skip


OPTIONS: list[tuple[str, type, object, str]] = [
    ("omniroute_config", str, str(paths.config_file()),
     "The omniroute config file (providers, combos, routes)."),
    ("omniroute_engine_url", str, "",
     "Use an engine started with `python -m omniroute_mitm.engine` at this URL instead of one "
     "in mitmproxy."),
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
    ("omniroute_flow_bodies", str, "auto",
     "Keep a copy of each routed, streamed body (its first MiB) on the flow: 'auto' when "
     "something shows or saves flows (mitmweb, the console, save_stream_file, hardump, "
     "flow_detail 3+), 'on', 'off'. Without a copy, the request body is dropped too once "
     "answered."),
    ("omniroute_header_timeout", int, 30,
     "Seconds a client connection gets to send its first complete request head (a CONNECT or "
     "a request); then it is closed. 0: no limit (mitmproxy's tcp_timeout still applies)."),
    ("omniroute_store", str, database.DEFAULT_URL,
     "The engine's database: sqlite:///FILE (relative: under omniroute_data_dir), "
     "postgresql://USER@HOST:PORT/DB (instances sharing usage and stored responses; "
     "needs the team extra), or none."),
    ("omniroute_state", str, stateurl.MEMORY,
     "The router's state (cooldowns, breakers, affinity, counters, budgets): memory (this "
     "instance; or config.yaml's state:), or redis://HOST:PORT/DB, a Redis or Valkey server "
     "shared by several instances (needs the team extra)."),
    ("omniroute_max_body", str, "32m",
     "A model call whose request body is over this size (e.g. 32m, 512k) gets a 413 in the "
     "client's format; mitmdump streams it to the engine, which drops it, instead of "
     "holding it whole."),
    ("omniroute_open_proxy", bool, False,
     "Listen beyond loopback without proxyauth (a trusted network only: whoever reaches the "
     "port spends the providers' keys)."),
    ("omniroute_body_memory", str, "256m",
     "The request bodies the engine holds at once; a call whose body does not fit gets a "
     "429 in the client's format (never a queue)."),
]  # fmt: skip
MAGIC_HOST = "omniroute"
"""http://omniroute/<rest> through the proxy is the engine's /omniroute/<rest>."""


def _check_values(updated: set[str]) -> None:
    """Options whose value must parse: one OptionsError naming the option."""
    checks = {"omniroute_max_body": limits.parse_size, "omniroute_body_memory": limits.parse_size,
              "omniroute_state": stateurl.parse_state_url}  # fmt: skip
    for name, parse in checks.items():
        if name in updated:
            try:
                parse(getattr(ctx.options, name))
            except ValueError as exc:
                raise exceptions.OptionsError(f"{name}: {exc}") from None


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


class StreamCount:
    """A stream callable that passes data through and counts it (the size
    mitmdump's line shows when no copy is kept)."""

    def __init__(self) -> None:
        self.size = 0

    def __call__(self, data: bytes) -> bytes:
        self.size += len(data)
        return data


class OmniRoute:
    def __init__(self) -> None:
        self.backend = EngineHost()
        """Where the engine runs (its own process, in-process, external)."""
        self.backend.on_routing = self._routed
        self._lines = RecordLines()
        self.backend.on_record = self._lines.add
        self.stopping: asyncio.Future[None] | None = None
        self.rebinding: asyncio.Future[None] | None = None
        self._copies: dict[str, CappedCopy | None] = {}
        """Routed flows streaming now, with their body copy (None: not kept)."""
        self._records = RecordClient()
        self._sent: dict[str, http.HTTPFlow] = {}
        """Flows sent to the engine and not answered yet (shown as called at exit)."""
        self._heads = HeadWatch()
        self._lost = LostUsage()
        self._defaults_set = False
        self._rebind = False
        self._origins: tuple[int | None, list[str]] = (-1, [])
        """config.yaml's mtime, and its allowed origins (CORS preflights)."""
        self.catalog = endpoints.DEFAULT
        """The hosts and paths of model calls (builtin, catalog, config.yaml)."""
        self.routable: frozenset[str] = frozenset(AI_HOSTS)
        """The catalog's hosts the CA can sign for: the only ones decrypted and routed."""
        self._own_allow = False
        self._guard = listening.BindGuard()
        """Keeps mitmdump's first listeners off addresses it was not told to."""

    def load(self, loader: addonmanager.Loader) -> None:
        # What mitmproxy writes from now on (mitmdump -w, save_stream_file, hardump)
        # holds whole prompts and answers: the user's alone, whatever the umask.
        # (mitmproxy opens those files after the scripts load.)
        private.narrow_umask()
        self._guard.install()  # mitmdump's listeners are binding now: before they listen
        for name, typespec, default, help_text in OPTIONS:
            loader.add_option(name, typespec, default, help_text)
        engine_loss.install()  # a call cut by the engine's death ends in its client's format
        contentviews.add(ModelStreamView(lambda: self.catalog))  # events + the assembled answer

    def configure(self, updated: set[str]) -> None:
        if not self._exposure_ok(updated):
            return  # refused at start-up: nothing starts, mitmdump exits
        _check_values(updated)
        self.backend.configure(updated)
        if ctx.options.omniroute_flow_bodies not in BODY_CHOICES:
            raise exceptions.OptionsError(
                f"omniroute_flow_bodies: {ctx.options.omniroute_flow_bodies!r} is not one of "
                + ", ".join(BODY_CHOICES)
            )
        if not self._defaults_set:
            self._defaults_set = True
            # lazy: nothing connects to the real host before the request hook.
            defaults: dict[str, object] = {}
            if "connection_strategy" in ctx.options:  # proxyserver's option
                defaults["connection_strategy"] = "lazy"
                if not ctx.options.listen_host:  # only loopback unless the user says so
                    defaults["listen_host"] = listening.LOOPBACK
                    self._rebind = True
                    self._guard.to_loopback = not listening.custom_hosts(ctx.options.mode)
            if "web_columns" in ctx.options and "comment" not in ctx.options.web_columns:
                if ctx.options.web_columns == ctx.options.default("web_columns"):
                    # mitmweb, columns not chosen: show route, tokens and cost
                    defaults["web_columns"] = [*ctx.options.web_columns, "comment"]
            defaults.update(_project_confdir())
            self._take_hosts(str(defaults.get("confdir", ctx.options.confdir)))
            if not ctx.options.allow_hosts and not ctx.options.ignore_hosts:
                self._own_allow = True  # decrypt only the hosts taken
                defaults["allow_hosts"] = [allow_pattern(sorted(self.routable))]
            ctx.options.update(**defaults)  # type: ignore[no-untyped-call]
            _check_ca_modes(Path(ctx.options.confdir).expanduser())
        elif "omniroute_config" in updated:
            self._take_hosts(ctx.options.confdir)
            if self._own_allow:
                ctx.options.update(allow_hosts=[allow_pattern(sorted(self.routable))])

    def _exposure_ok(self, updated: set[str]) -> bool:
        """Listening beyond loopback needs proxyauth (or omniroute_open_proxy):
        refused at start-up (one line, mitmdump exits), refused as a change later."""
        if self._guard.refuse:
            return False
        if "listen_host" not in ctx.options:  # no proxyserver (tests)
            return True
        watched = {"listen_host", "mode", "proxyauth", "omniroute_open_proxy", "listen_port"}
        if self._defaults_set and not updated & watched:
            return True
        host = ctx.options.listen_host or listening.LOOPBACK  # (our default, if none given)
        hosts = listening.exposed(ctx.options.mode, host, ctx.options.listen_port)
        if not hosts or getattr(ctx.options, "proxyauth", None) or ctx.options.omniroute_open_proxy:
            return True
        if self._defaults_set:
            raise exceptions.OptionsError(listening.refusal(hosts))
        log.error("%s", listening.refusal(hosts))
        self._guard.refuse = True
        return False

    def _take_hosts(self, confdir: str) -> None:
        """The catalog with the config's endpoints, less the hosts the CA in
        ``confdir`` cannot sign for (they stay tunnelled; a log line says why)."""
        self.catalog = endpoints.catalog(self._config())
        cert = trust.load_cert(os.path.expanduser(confdir))
        names = trust.permitted_names(cert) if cert is not None else None
        hosts = self.catalog.hosts()
        if names is None:  # no CA yet (mitmproxy makes its own) or an unconstrained one
            self.routable = frozenset(hosts)
            return
        left_out = endpoints.uncovered(names, self._config())
        self.routable = frozenset(h for h in hosts if h not in left_out)
        if left_out:
            log.warning(
                "omniroute: the CA in %s cannot sign for %s, so these hosts stay tunnelled "
                "(not decrypted, not routed). Regenerate it with the names the catalog and "
                "config.yaml need: %s (then clients trust the new CA again: the env line, "
                "or `sudo .venv/bin/python scripts/ca.py install`)",
                confdir, ", ".join(left_out), ROTATE)  # fmt: skip

    def _config(self) -> Config | None:
        """The config the front loaded, else read for the host list alone
        (an external engine loads its own)."""
        return self.backend.loaded_config or summary.load_quietly(ctx.options.omniroute_config)

    def running(self) -> None:
        # The engine (child or in-process) never takes this proxy as its own
        # upstream proxy, should HTTPS_PROXY in mitmdump's shell name it.
        port = ctx.options.listen_port if "listen_port" in ctx.options else 0
        address = _proxy_address()
        if address and not port:
            port = int(address.rsplit(":", 1)[1])
        if port:
            os.environ[FRONT_PORT_ENV] = str(port)
        _private_save_file()
        self._guard.remove()
        if self._guard.moved:  # the listeners bound to loopback from the start
            self._rebind = False
        self.backend.start_running()
        if self._rebind:
            self._rebind = False
            self.rebinding = asyncio.ensure_future(_rebind_servers(self._summary))
        else:
            self._summary()

    def _summary(self) -> None:
        """What is routed where, what is missing, which line each client needs."""
        if self.backend.loaded is None and not self.backend.engine_url:
            return  # the config did not load: its errors are logged, mitmdump exits
        path = ctx.options.omniroute_config
        config = self.backend.loaded_config or summary.load_quietly(path)
        setting = summary.make_setting(
            _proxy_address(), ctx.options.confdir,
            offline_clients=ctx.options.omniroute_offline_clients,
            proxy_users=bool(getattr(ctx.options, "proxyauth", None)),
        )  # fmt: skip
        log.info("%s", summary.block("omniroute:", summary.startup_lines(config, path, setting)))

    def done(self) -> None:
        # Sync: a script reload calls done() from sync code (async raises there).
        os.environ.pop(FRONT_PORT_ENV, None)
        self._guard.remove()
        self._heads.done()
        for flow in self._sent.values():  # `mitmdump -w` saves them next (its done())
            _as_called(flow)
        self._sent.clear()
        self.stopping = self.backend.stop()
        self._records.close()
        self._lost.close()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Before the body: a header block too large for the engine gets a 431;
        a body over ``omniroute_max_body`` (or of unknown size) is streamed to
        the engine (which refuses one too large) instead of held by mitmdump."""
        self._heads.head(flow)
        identity.drop_claims(flow.request.headers)  # only the front speaks to the engine
        req = flow.request
        if flow.response or req.pretty_host.lower() not in self.routable:
            return
        call = classify(req.method, req.path, req.pretty_host, req.headers, self.catalog)
        if call is None or call.kind == "models":
            return
        too_long = header_block(req) > limits.MAX_HEADER_BLOCK
        if too_long and not req.stream:
            flow.response = client_error(call, 431, limits.HEADERS_TOO_LONG)
            return
        # (mitmproxy streams this body already: it cannot answer it itself; the engine does)
        length = req.headers.get("content-length", "")
        chunked = "chunked" in req.headers.get("transfer-encoding", "").lower()
        max_body = limits.parse_size(ctx.options.omniroute_max_body)
        # mitmproxy streams a body over its stream_large_bodies (req.stream set
        # already): to wherever the flow points now, so it must point at the engine
        if not (chunked or req.stream or too_long or (length.isdigit() and int(length) > max_body)):
            return
        req.stream = True  # to the engine as it comes: never whole in mitmdump
        req.headers[MAX_BODY_HEADER] = str(max_body)
        self._route(flow, call)

    def client_connected(self, client: connection.Client) -> None:
        if self._guard.refuse:  # (a listener on an IP address binds before the script loads)
            client.error = "omniroute: refused (an open proxy); mitmdump is exiting"
            return
        self._heads.client_connected(client)

    def client_disconnected(self, client: connection.Client) -> None:
        self._heads.client_disconnected(client)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._heads.head(flow)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or "omniroute" in flow.metadata:
            return
        req = flow.request
        host = req.pretty_host
        if host == MAGIC_HOST:
            return self._page(flow)
        if host.lower() not in self.routable:
            return
        if req.method == "OPTIONS" and "access-control-request-method" in req.headers:
            return self._preflight(flow)
        if is_websocket_upgrade(req.method, req.path, req.headers):
            body = b'{"error":{"message":"use HTTP streaming (SSE), not WebSocket"}}'
            flow.response = http.Response.make(426, body, {"content-type": "application/json"})
            return
        call = classify(req.method, req.path, host, req.headers, self.catalog)
        if call is None and ctx.options.omniroute_offline_clients:
            answer = offline_answer(req.method, host, req.path)  # never the vendor
            flow.response = http.Response.make(answer.status, answer.body, answer.headers)
            return
        if call is None or call.kind == "models":
            return
        self._route(flow, call)

    def _route(self, flow: http.HTTPFlow, call: Call) -> None:
        """To the engine, now or once it has (re)started."""
        if flow.request.pretty_host.lower() not in AI_HOSTS:  # a catalogued vendor
            flow.metadata["omniroute_path"] = engine_path(call, flow.request.path)
        destination = self._destination()
        if destination is None and self.backend.starting:
            flow.intercept()  # the engine is (re)starting: this call waits for it
            asyncio.ensure_future(self._when_ready(flow))
            return
        if destination is not None:
            self._redirect(flow, destination)

    def _preflight(self, flow: http.HTTPFlow) -> None:
        """A web page's CORS preflight to an AI host, answered here: allowed
        for a page on ``security.allowed_origins``, else refused without any
        Access-Control-Allow-* header, so the page cannot go on (core.access)."""
        req = flow.request
        origin = req.headers.get("origin")
        if origin is not None and access.origin_allowed(origin, self._allowed_origins()):
            flow.response = http.Response.make(204, b"", {
                "access-control-allow-origin": origin,
                "access-control-allow-methods": req.headers["access-control-request-method"],
                "access-control-allow-headers": req.headers.get(
                    "access-control-request-headers", ""),
                "access-control-max-age": "600",
                "vary": "Origin",
            })  # fmt: skip
            return
        call = classify("POST", req.path, req.pretty_host, req.headers)
        error = access.page_refused(origin)
        if call is not None:
            status, body = access.render(call.format, error)
        else:
            status, body = 403, json.dumps({"error": {"message": error.message}}).encode()
        flow.response = http.Response.make(status, body, {"content-type": "application/json"})
        flow.comment = "CORS preflight refused"

    def _allowed_origins(self) -> list[str]:
        """``security.allowed_origins`` as config.yaml says now (the engine
        reloads it on a change; so does this, on the next preflight)."""
        path = ctx.options.omniroute_config
        try:
            stamp = os.stat(path).st_mtime_ns
        except OSError:
            stamp = None
        if stamp != self._origins[0]:
            config = summary.load_quietly(path) if stamp is not None else None
            config = config or self.backend.loaded_config  # a bad edit: the one loaded
            self._origins = (stamp, config.security.allowed_origins if config else [])
        return self._origins[1]

    async def _when_ready(self, flow: http.HTTPFlow) -> None:
        ready = await self.backend.wait_ready(READY_TIMEOUT)
        destination = self._destination()
        if ready and destination is not None:
            self._redirect(flow, destination)
        elif flow.request.stream and ctx.options.stream_large_bodies:
            flow.kill()  # mitmproxy streams it whatever we say, and cannot answer it itself
        else:
            body = b'{"error":{"message":"omniroute: the engine did not start (see the log)"}}'
            flow.response = http.Response.make(502, body, {"content-type": "application/json"})
            flow.request.stream = False  # (mitmproxy cannot stream a body and answer itself)
        flow.resume()

    def _redirect(self, flow: http.HTTPFlow, destination: tuple[str, str]) -> None:
        req = flow.request
        original = req.pretty_url
        target = urlsplit(destination[0])
        req.scheme = target.scheme  # scheme first: the host setter rewrites Host
        req.host = target.hostname or "127.0.0.1"
        req.port = target.port or 80
        req.headers[SECRET_HEADER] = destination[1]
        req.headers[ORIGINAL_URL_HEADER] = original
        identity.tell(flow)
        if "omniroute_path" in flow.metadata:
            req.path = flow.metadata.pop("omniroute_path")
        flow.metadata["omniroute"] = original
        self._sent[flow.id] = flow
        if (pid := self.backend.pid) is not None:  # a child: it announces what it routes
            flow.metadata["omniroute_engine_pid"] = pid
            req.headers[CALL_HEADER] = flow.id
            self._to_arena(flow)

    def _to_arena(self, flow: http.HTTPFlow) -> None:
        """A large body to the engine child through the shared memory (see
        engine.core.arena): the request itself goes empty, naming the place."""
        req, shared = flow.request, self.backend.arena
        raw = req.raw_content
        if shared is None or req.stream or raw is None or len(raw) < arena.MIN_BODY:
            return
        slot = shared.put(raw)
        if slot is None:  # full: over the socket
            return
        flow.metadata[BODY_SLOT] = (slot, raw, req.headers.get("content-length"))
        req.headers[BODY_AT_HEADER] = slot.header()
        req.raw_content = b""
        req.headers["content-length"] = "0"

    def _body_back(self, flow: http.HTTPFlow) -> None:
        """The engine has the body (or never will): its place in the arena
        freed, the flow's request shown with its body again."""
        held = flow.metadata.pop(BODY_SLOT, None)
        if held is None:
            return
        slot, raw, length = held
        if self.backend.arena is not None:
            self.backend.arena.release(slot)
        flow.request.raw_content = raw
        flow.request.headers.pop(BODY_AT_HEADER, None)
        if length is not None:
            flow.request.headers["content-length"] = length

    def _routed(self, call_id: str) -> None:
        """The engine child began routing call ``call_id`` (see CALL_HEADER)."""
        flow = self._sent.get(call_id)
        if flow is not None:
            flow.metadata[ROUTED] = True
            self._body_back(flow)  # (it read the body before)

    def _repoint(self, flow: http.HTTPFlow, destination: tuple[str, str]) -> None:
        """A routed flow to another engine (the one that replaced a dead one)."""
        req, target = flow.request, urlsplit(destination[0])
        req.scheme = target.scheme
        req.host = target.hostname or "127.0.0.1"
        req.port = target.port or 80
        req.headers[SECRET_HEADER] = destination[1]
        if (pid := self.backend.pid) is not None:
            flow.metadata["omniroute_engine_pid"] = pid

    async def omniroute_engine_lost(self, flow: http.HTTPFlow) -> None:
        """The connection to the engine failed under a routed flow: leave a
        verdict (see :mod:`.engine_loss`)."""
        what = flow.metadata.pop(engine_loss.VERDICT, None)
        original = str(flow.metadata.get("omniroute", ""))
        parts = urlsplit(original)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        call = classify(flow.request.method, path, parts.hostname, flow.request.headers,
                        self.catalog)  # fmt: skip
        if call is None:
            return
        if what == "connect":
            return await self._unreachable(flow, call, original)
        pid = flow.metadata.get("omniroute_engine_pid")
        died = isinstance(pid, int) and await self.backend.died(pid, DEATH_WAIT)
        if not died:  # alive: it closed the connection itself
            if what == "headers":
                self._answer(
                    flow,
                    client_error(
                        call,
                        502,
                        "omniroute: the engine closed the "
                        "connection without answering (see the log)",
                    ),
                )
            return  # a body cut on purpose (a native answer that broke): the client sees a cut
        if what == "headers" and await self._send_again(flow, original):
            return
        if what == "body":
            assert flow.response is not None
            sse = "event-stream" in flow.response.headers.get("content-type", "")
            if not sse and not (call.format == "gemini" and call.stream):
                return  # a JSON answer cut in two: nothing in its format can follow
            flow.metadata[engine_loss.TAIL] = stream_error(
                call.format, sse, 502, LOST_MESSAGE, opened=True
            )
            flow.metadata[engine_loss.VERDICT] = "end"
            flow.marked = ":x:"
        else:
            self._answer(flow, client_error(call, 502, LOST_MESSAGE))
        flow.metadata.pop("omniroute_record", None)  # the new engine's ids start over
        flow.comment = f"{flow.comment or original} : engine lost (the front answered)"
        log.warning("omniroute: the engine died under %s; the client got an error in its format",
                    original)  # fmt: skip
        self._lost.write(flow, call, ctx.options.omniroute_store,
                         ctx.options.omniroute_data_dir or None)  # fmt: skip

    async def _unreachable(self, flow: http.HTTPFlow, call: Call, original: str) -> None:
        """No connection to the engine: the call goes to the engine that
        replaces it (it died and the front had not noticed yet), once; else a
        502 in the client's format."""
        if not flow.metadata.get(engine_loss.RETRIED) and await self._to_restarted(flow):
            log.info("omniroute: %s waited for the engine's restart", original)
            return
        failed = f"{flow.request.scheme}://{flow.request.host}:{flow.request.port}"
        self._answer(
            flow,
            client_error(
                call, 502, f"omniroute: cannot reach the engine at {failed} (see the log)"
            ),
        )

    async def _send_again(self, flow: http.HTTPFlow, original: str) -> bool:
        """The engine child died with no answer to this call and had not begun
        routing it (it says so before any provider call, and the front read
        its output to the end): no provider saw the call, so it goes to the
        restarted engine, once. Not a body mitmproxy streamed (it kept none)."""
        if flow.metadata.get(engine_loss.RETRIED) or flow.metadata.get(ROUTED):
            return False
        if flow.request.stream or not await self._to_restarted(flow):
            return False
        log.info(
            "omniroute: %s: the engine died before routing it; sent to the restarted engine",
            original,
        )
        return True

    async def _to_restarted(self, flow: http.HTTPFlow) -> bool:
        """Point the flow at the engine child that replaced the one it was
        sent to (verdict ``retry``); False if none comes in time."""
        pid = flow.metadata.get("omniroute_engine_pid")
        destination = await self.backend.replaced(pid, READY_TIMEOUT)
        if destination is None:
            return False
        self._repoint(flow, destination)
        flow.metadata[engine_loss.VERDICT] = "retry"
        return True

    def _answer(self, flow: http.HTTPFlow, response: http.Response) -> None:
        """The front's own answer to a routed flow the engine did not answer;
        the flow shows what the client called (no engine URL, no secret)."""
        flow.request.headers.pop(SECRET_HEADER, None)
        flow.request.headers.pop(ORIGINAL_URL_HEADER, None)
        flow.request.url = str(flow.metadata.get("omniroute", flow.request.url))
        flow.response = response
        flow.marked = ":x:"
        flow.metadata[engine_loss.VERDICT] = "answer"

    def _page(self, flow: http.HTTPFlow) -> None:
        """The engine's pages (dashboard, records), authenticated by the front."""
        destination = self._destination()
        if destination is None:
            body = b"omniroute: no engine is running (see the log)"
            flow.response = http.Response.make(503, body, {"content-type": "text/plain"})
            return
        req, target = flow.request, urlsplit(destination[0])
        flow.metadata["omniroute_page"] = req.url  # restored once answered (_as_called)
        rest = req.path.lstrip("/")
        req.scheme = target.scheme
        req.host = target.hostname or "127.0.0.1"
        req.port = target.port or 80
        req.path = "/omniroute/" + rest
        req.headers[SECRET_HEADER] = destination[1]
        self._sent[flow.id] = flow

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._body_back(flow)
        original = flow.metadata.get("omniroute")
        if original is None or flow.response is None:
            return
        route = flow.response.headers.get(ROUTE_HEADER) or "(engine gave no route)"
        record_id = flow.response.headers.get(RECORD_HEADER, "")
        _as_called(flow)  # the log and mitmweb show what the client called
        if record_id.isdigit():
            flow.metadata["omniroute_record"] = int(record_id)
        flow.comment = f"{original} : {route}{identity.shown(flow)}"
        copy = CappedCopy() if _keep_bodies() else None
        self._copies[flow.id] = copy
        flow.response.stream = copy or StreamCount()

    async def response(self, flow: http.HTTPFlow) -> None:
        self._sent.pop(flow.id, None)
        self._body_back(flow)
        if _as_called(flow):
            return  # a page: nothing more to do
        await self._finish(flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        self._sent.pop(flow.id, None)
        self._body_back(flow)
        _as_called(flow)  # (a flow saved with -w must not show the engine either)
        # e.g. the client hung up after the last event, before the end of the body:
        # the flow still shows what was sent, its tokens and cost
        await self._finish(flow)

    async def _finish(self, flow: http.HTTPFlow) -> None:
        """The body copy, the tokens and cost, and the marks, on a routed flow."""
        if flow.id not in self._copies:
            return
        copy = self._copies.pop(flow.id)
        if flow.response is None:
            return
        if isinstance(copy, CappedCopy):
            flow.response.raw_content = bytes(copy.data)
            copy.data.clear()  # (finished flows can wait long for the cycle collector)
        elif isinstance(flow.response.stream, StreamCount):
            # Nothing keeps the body (plain mitmdump): its line says what happened
            # instead of "(content missing)", which reads like an error.
            sent = human.pretty_size(flow.response.stream.size)
            flow.response.reason = f"{flow.response.reason} (streamed {sent}, body not kept)"
            flow.response.raw_content = b""
            # Nor is the request's: a long conversation's body (up to MBs) would
            # otherwise wait in the finished flow for the cycle collector.
            flow.request.raw_content = None
        record = await self._record(flow)
        if record is not None:
            annotate(flow, record)
        if isinstance(copy, CappedCopy) and copy.truncated:
            flow.comment += f" [body shown: first {copy.cap} bytes]"

    async def _record(self, flow: http.HTTPFlow) -> dict[str, Any] | None:
        """What the engine says the flow's request did: the line an engine
        child wrote as the call ended, else asked over HTTP (the engine in
        this process or elsewhere; a child's line that did not come)."""
        record_id = flow.metadata.get("omniroute_record")
        destination = self._destination()
        if not isinstance(record_id, int) or destination is None:
            return None
        pid = flow.metadata.get("omniroute_engine_pid")
        if pid is not None and pid == self.backend.pid:
            found = await self._lines.take(flow.id, LINE_WAIT)
            if found is not None and found.get("id") == record_id:
                return found
        url, secret = destination
        return await self._records.get(url, secret, record_id)

    def _destination(self) -> tuple[str, str] | None:
        """The engine's URL and secret; None while no engine runs."""
        return self.backend.destination()


def _as_called(flow: http.HTTPFlow) -> bool:
    """A flow the front sent to the engine, made to show what the client
    called again: its URL, and no ``x-omniroute-*`` header (the engine's
    secret must not reach saved flows, ``mitmdump -w``, nor the log).
    True for the engine's own pages (http://omniroute/...)."""
    page = flow.metadata.pop("omniroute_page", None)
    original = page or flow.metadata.get("omniroute")
    if original is None:
        return False
    for headers in (flow.request.headers, flow.response.headers if flow.response else None):
        for name in [n for n in headers or () if n.lower().startswith(ENGINE_PREFIX)]:
            del headers[name]
    if flow.request.url != original:
        flow.request.url = original
    return page is not None


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


def _private_save_file() -> None:
    """``mitmdump -w`` opened its file before this script loaded (and narrowed
    the umask): make it the user's alone too."""
    save = ctx.master.addons.get("save")
    path = getattr(save, "current_path", None)
    if isinstance(path, str) and os.path.isfile(path) and not os.path.islink(path):
        try:
            os.chmod(path, private.FILE_MODE)
        except OSError as exc:
            log.warning("omniroute: cannot make %s private: %s", path, exc)


def _check_ca_modes(confdir: Path) -> None:
    """Warn (once) when the project's CA folder or key files are readable by
    others. ``ca-bundle.pem`` marks a confdir written by scripts/ca.py, not
    mitmproxy's own ~/.mitmproxy."""
    if (confdir / "ca-bundle.pem").exists():
        private.warn_if_wider(
            confdir,
            confdir / "mitmproxy-ca.pem",
            confdir / "mitmproxy-ca.p12",
            holds="the CA's private key",
        )


def _keep_bodies() -> bool:
    """Whether a routed flow keeps a copy of its streamed body. A finished flow
    of plain mitmdump is garbage nobody reads, yet it can wait long for
    Python's cycle collector: with the copies, ~17 MB more at 64 streams."""
    choice = ctx.options.omniroute_flow_bodies
    if choice != "auto":
        return bool(choice == "on")
    if ctx.master.addons.get("view") is not None:
        return True  # mitmweb, mitmproxy's console: flows are kept and shown
    options = ctx.options
    if getattr(options, "save_stream_file", None) or getattr(options, "hardump", None):
        return True
    return int(getattr(options, "flow_detail", 0)) >= 3  # mitmdump prints bodies


def header_block(req: http.Request) -> int:
    """The size of a request's head as it came (see :func:`limits.header_block`)."""
    return limits.header_block(req.method, req.path, req.headers.fields)


def annotate(flow: http.HTTPFlow, record: dict[str, Any]) -> None:
    """Tokens and cost in the comment; a fallback or a failure marks the flow
    (mitmweb shows the mark in its list)."""
    if record.get("summary"):
        flow.comment += " " + str(record["summary"])
    if record.get("failed"):
        flow.marked = ":x:"
    elif record.get("fell_back"):
        flow.marked = ":twisted_rightwards_arrows:"
