"""Where the front's engine runs, and its lifecycle.

``omniroute_engine_mode``: ``process`` (the default: ``python -m omniroute_mitm.engine`` as
mitmdump's child, a second core), ``inprocess`` (in mitmproxy's event loop),
or an engine started elsewhere (``omniroute_engine_url``). The front only
asks :meth:`EngineHost.destination` where to send a model call, and waits
with :meth:`EngineHost.wait_ready` while a child (re)starts.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions
from omniroute_mitm.engine.core import database, limits, stateurl, summary
from omniroute_mitm.engine.core.arena import Arena
from omniroute_mitm.engine.core.config import Config, ConfigError, load_config

from .process import EngineProcess, can_spawn

log = logging.getLogger("omniroute")

MODES = ("process", "inprocess")
CHILD_OPTIONS = {"omniroute_config", "omniroute_engine_direct", "omniroute_engine_port",
                 "omniroute_store", "omniroute_data_dir", "omniroute_log_requests",
                 "omniroute_body_memory", "omniroute_state"}  # fmt: skip
"""Options on the engine child's command line: changing one starts a new child."""


class BodyBudget(Protocol):
    limit: int


class EmbeddedEngine(Protocol):
    """What the front uses of an in-process engine (``engine.serve.embedded``)."""

    config: Config
    direct_token: str | None

    @property
    def port(self) -> int | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def secret(self) -> str: ...
    def start(self, port: int = 0) -> int: ...
    async def stop(self) -> None: ...
    def watch(self, path: str) -> None: ...
    def set_config(self, config: Config) -> None: ...
    def log_requests(self, on: bool, data_dir: str | None) -> None: ...

    @property
    def bodies(self) -> BodyBudget: ...


class EngineHost:
    def __init__(self) -> None:
        self.engine: EmbeddedEngine | None = None  # in-process mode
        self.child: EngineProcess | None = None  # process mode
        self.config: Config | None = None  # what the front loaded (process mode)
        self.mode = "process" if can_spawn() else "inprocess"
        self.running = False  # the child starts in `running` (taddons never gets there)
        self.engine_url = ""  # an external engine
        self.secret = ""
        self.config_path = ""
        self.on_routing: Callable[[str], None] | None = None
        """Told the id of each call an engine child starts routing."""
        self.on_record: Callable[[str, dict[str, Any]], None] | None = None
        """Told each call an engine child ended, with its record."""
        self.arena: Arena | None = None
        """Where large bodies go to an engine child (kept across its restarts)."""

    def configure(self, updated: set[str]) -> None:
        """The engine's share of the front's ``configure``."""
        if "omniroute_engine_mode" in updated:
            self._set_mode(ctx.options.omniroute_engine_mode)
        if updated & {"omniroute_engine_url", "omniroute_engine_secret_file"}:
            self._use_external_engine()
        if self.engine_url:  # an external engine reads its own config
            return
        if "omniroute_config" in updated or (
            self.loaded is None and "omniroute_engine_url" in updated
        ):
            self._load_config(ctx.options.omniroute_config)
        if "omniroute_log_requests" in updated and self.engine is not None:
            self.engine.log_requests(
                ctx.options.omniroute_log_requests, ctx.options.omniroute_data_dir or None
            )
        if "omniroute_state" in updated and self.engine is not None:
            log.warning("omniroute_state: the in-process engine keeps its state store until "
                        "mitmproxy restarts")  # fmt: skip
        if "omniroute_body_memory" in updated and self.engine is not None:
            self.engine.bodies.limit = limits.parse_size(ctx.options.omniroute_body_memory)
        if "omniroute_engine_direct" in updated and self.loaded is not None:
            token = _direct_token()
            if self.engine is not None:
                self.engine.direct_token = token
        if self.loaded is not None and _loop_running():
            self._start(restart=bool(updated & CHILD_OPTIONS))

    @property
    def loaded(self) -> object | None:
        """The engine (in-process) or the config (process mode), once loaded."""
        return self.engine if self.mode == "inprocess" else self.config

    @property
    def loaded_config(self) -> Config | None:
        return self.engine.config if self.engine is not None else self.config

    def start_running(self) -> None:
        """mitmproxy runs: a child can start now."""
        self.running = True
        if self.loaded is not None and not self.engine_url:
            self._start()

    def stop(self) -> asyncio.Future[None] | None:
        """Stop the engine (sync: a script reload calls ``done`` from sync code)."""
        stopping = None
        if self.engine is not None and self.engine.port is not None:
            stopping = asyncio.ensure_future(self.engine.stop())
        if self.child is not None:
            child, self.child = self.child, None
            if _loop_running():
                stopping = asyncio.ensure_future(child.stop())
            else:
                child.kill_now()
        if self.arena is not None:  # (a child keeps its own mapping until it exits)
            self.arena.close()
            self.arena = None
        return stopping

    @property
    def starting(self) -> bool:
        """A child runs, but is not ready yet (or restarts)."""
        return self.child is not None and self.destination() is None

    async def wait_ready(self, timeout: float) -> bool:
        child = self.child
        return child is not None and await child.wait_ready(timeout)

    @property
    def pid(self) -> int | None:
        """The engine child's pid (process mode)."""
        return self.child.pid if self.child is not None else None

    async def died(self, pid: int, timeout: float) -> bool:
        """Whether engine child ``pid`` is gone or goes within ``timeout`` s
        (False for an engine that is no child of ours)."""
        child = self.child
        return child is not None and await child.exited(pid, timeout)

    async def replaced(self, pid: int | None, timeout: float) -> tuple[str, str] | None:
        """The destination of the engine child that replaces child ``pid``
        (which died, or refused a connection): once the front has seen it
        die and the new one listens. None when there is no child to wait for."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.child is not None and pid is not None and loop.time() < deadline:
            destination = self.destination()
            if destination is not None and self.child.pid != pid:
                return destination
            if destination is None:
                await self.wait_ready(max(0.0, deadline - loop.time()))
            else:  # not seen dead yet (its stdout's end is on the way)
                await asyncio.sleep(0.02)
        return None

    def destination(self) -> tuple[str, str] | None:
        """The engine's URL and secret; None while no engine runs."""
        if self.engine_url:
            return self.engine_url, self.secret
        if self.child is not None:
            return (self.child.url, self.child.secret) if self.child.url else None
        if self.engine is None or self.engine.url is None:
            return None
        return self.engine.url, self.engine.secret

    # ------------------------------------------------------------ options

    def _set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise error(f"omniroute_engine_mode: {mode!r} is not one of {', '.join(MODES)}")
        if mode == "process" and not can_spawn():
            log.warning("omniroute: this mitmproxy has no Python to start the engine with; "
                        "running it in-process")  # fmt: skip
            mode = "inprocess"
        if mode == self.mode:
            return
        if self.child is not None or (self.engine is not None and self.engine.port is not None):
            raise error("omniroute_engine_mode cannot change while mitmproxy runs: restart it")
        self.mode, self.engine, self.config = mode, None, None
        if self.config_path and not self.engine_url:
            self._load_config(self.config_path)

    def _load_config(self, path: str) -> None:
        try:
            config = load_config(path)
        except ConfigError as exc:
            if self.loaded is not None:  # at runtime: refuse, keep the old config
                raise error(str(exc)) from None
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
            # the one place the front loads the engine's server: in-process mode only
            from omniroute_mitm.engine.serve.embedded import StateError, embedded_engine

            try:
                self.engine = embedded_engine(
                    config,
                    direct_token=_direct_token(),
                    store=_store(),
                    data_dir=ctx.options.omniroute_data_dir or None,
                    state=ctx.options.omniroute_state,
                )
            except StateError as exc:  # one line (errorcheck makes mitmdump exit 1)
                log.error("%s", exc)
                return
            self.engine.bodies.limit = limits.parse_size(ctx.options.omniroute_body_memory)
        else:  # omniroute_config changed at runtime
            self.engine.set_config(config)
            log.info("%s", summary.block("omniroute:", summary.config_lines(config, path)))
        if self.engine.port is not None:
            self.engine.watch(path)

    def _use_external_engine(self) -> None:
        url = ctx.options.omniroute_engine_url
        if url and (urlsplit(url).scheme != "http" or not urlsplit(url).port):
            raise error(f"Cannot parse omniroute_engine_url {url!r}: want http://HOST:PORT")
        if url:
            try:
                secret = Path(ctx.options.omniroute_engine_secret_file).read_text("utf-8")
            except OSError as exc:
                raise error(f"Cannot read omniroute_engine_secret_file: {exc}") from None
            self.secret = secret.strip()
        self.engine_url = url.rstrip("/")

    # ------------------------------------------------------------ starting

    def _start(self, restart: bool = False) -> None:
        if self.mode != "inprocess":
            return self._start_child(restart)
        assert self.engine is not None
        if self.engine.port is None:
            self.engine.start(port=ctx.options.omniroute_engine_port)
            self.engine.watch(self.config_path)
            log.info("omniroute engine listening at %s", self.engine.url)

    def _start_child(self, restart: bool) -> None:
        if not self.running or (self.child is not None and not restart):
            return
        if self.child is not None:  # its command line changed: a new one
            asyncio.ensure_future(self.child.stop())
        args = ["--store", ctx.options.omniroute_store or "none"]
        # memory: config.yaml's state: (as in-process); a URL's password stays out of ps
        env = {stateurl.STATE_ENV: ctx.options.omniroute_state.strip() or stateurl.MEMORY}
        if ctx.options.omniroute_log_requests:
            args.append("--log-requests")
        if ctx.options.omniroute_data_dir:
            args += ["--data-dir", ctx.options.omniroute_data_dir]
        args += ["--body-memory", str(limits.parse_size(ctx.options.omniroute_body_memory))]
        if self.arena is None:
            self.arena = Arena.create()
        self.child = EngineProcess(
            self.config_path,
            port=ctx.options.omniroute_engine_port,
            direct=bool(_direct_token()),
            args=args,
            env=env,
            arena_fd=self.arena.fd if self.arena is not None else None,
        )
        self.child.on_routing = self.on_routing
        self.child.on_record = self.on_record
        self.child.start()
        atexit.register(self.child.kill_now)


def _store() -> database.Store | None:
    url = ctx.options.omniroute_store
    if not url or url.lower() == "none":
        return None
    base = database.data_dir(ctx.options.omniroute_data_dir)
    try:
        return database.open_store(url, base=base)
    except database.StoreError as exc:  # one line (errorcheck makes mitmdump exit 1)
        log.error("omniroute_store: %s", exc)
        return None


def _direct_token() -> str | None:
    if not ctx.options.omniroute_engine_direct:
        return None
    token = os.environ.get("OMNIROUTE_DIRECT_TOKEN")
    if not token:
        raise error("omniroute_engine_direct needs $OMNIROUTE_DIRECT_TOKEN")
    return token


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def error(message: str) -> exceptions.OptionsError:
    return exceptions.OptionsError(message)  # type: ignore[no-untyped-call]
