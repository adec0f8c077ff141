"""The engine as a child process of the front (the default: a second core).

:class:`EngineProcess` starts ``python -m omniroute_mitm.engine`` with a fresh per-run secret
(handed over on the child's stdin, never on disk or in its argv), logs the
child's lines through :mod:`logging` (so they show in mitmproxy's log), and
restarts it when it dies. The child watches its parent: stdin EOF, a parent
death signal on Linux and a parent-pid poll, so it never outlives the front,
even when the front is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from omniroute_mitm.engine.core.headers import RECORD_LINE, ROUTING_LINE

log = logging.getLogger("engine")

LISTENING = re.compile(r"engine listening at (http://\S+)")
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
          "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}  # fmt: skip
RESTART_DELAYS = (0.2, 1.0, 2.0, 5.0, 10.0)
STEADY = 30.0  # a child that ran this long starts the delays over


def can_spawn() -> bool:
    """A frozen mitmproxy (its standalone binaries) has no Python to run the engine."""
    return not getattr(sys, "frozen", False)


class EngineProcess:
    def __init__(
        self,
        config_path: str,
        *,
        port: int = 0,
        direct: bool = False,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        arena_fd: int | None = None,
    ) -> None:
        self.config_path, self.port, self.direct, self.args = config_path, port, direct, args
        self.arena_fd = arena_fd
        """The shared memory of large request bodies (engine.core.arena), given to each child."""
        self.env = env or {}
        """More environment for the child (what must not show in ``ps``)."""
        self.secret = secrets.token_urlsafe(32)
        self.url: str | None = None
        self.ready = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._level = logging.INFO
        self._ended = asyncio.Event()
        """Set once the current child is gone and its output read to the end."""
        self.on_routing: Callable[[str], None] | None = None
        """Told the id of each call the child starts routing (see ROUTING_LINE)."""
        self.on_record: Callable[[str, dict[str, Any]], None] | None = None
        """Told each call the child ended: its id and its record (see RECORD_LINE)."""

    def __repr__(self) -> str:
        return f"EngineProcess(url={self.url!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "omniroute_mitm.engine", "--config", self.config_path,
                "--port", str(self.port), "--secret-file", "-", "--parent", str(os.getpid()),
                *self.args]  # fmt: skip
        if self.arena_fd is not None:
            argv += ["--body-arena", str(self.arena_fd)]
        return [*argv, "--direct"] if self.direct else argv

    def start(self) -> None:
        """Start (and keep restarting) the child; needs a running event loop."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.ensure_future(self._supervise())

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def exited(self, pid: int, timeout: float) -> bool:
        """Whether the child ``pid`` is gone, or goes within ``timeout`` s;
        once True, all it wrote has been read (every call it announced)."""
        proc, ended = self.proc, self._ended
        if proc is None or proc.pid != pid:
            return True  # (a later child starts only once an earlier one has ended)
        try:
            await asyncio.wait_for(ended.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            started = time.monotonic()
            code = await self._run_once()
            if self._stopping:
                return
            failures = 0 if time.monotonic() - started > STEADY else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS)) - 1] if failures else 0.2
            log.warning("omniroute engine exited (code %s); restarting in %.1f s", code, delay)
            await asyncio.sleep(delay)

    async def _run_once(self) -> int | None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env,
                pass_fds=() if self.arena_fd is None else (self.arena_fd,))  # fmt: skip
        except OSError as exc:
            log.error("cannot start the omniroute engine: %s", exc)
            return None
        self._ended = ended = asyncio.Event()
        try:
            return await self._watch(self.proc)
        finally:
            ended.set()

    async def _watch(self, proc: asyncio.subprocess.Process) -> int:
        """A child just started: its secret, then its output until it ends."""
        self.starts += 1
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(self.secret.encode() + b"\n")  # stdin stays open: EOF = we died
        with contextlib.suppress(ConnectionError):
            await proc.stdin.drain()
        if self._stopping:  # stop() came while it was being started
            _ask_to_stop(proc)
        async for raw in proc.stdout:  # read to the end, always: a full pipe blocks it
            self._line(raw.decode("utf-8", "replace").rstrip("\n"))
        self.ready.clear()
        self.url = None
        return await proc.wait()

    def _line(self, line: str) -> None:
        if line.startswith(RECORD_LINE):
            call_id, _, data = line.removeprefix(RECORD_LINE).partition(" ")
            with contextlib.suppress(ValueError):
                record = json.loads(data)
                if self.on_record is not None and isinstance(record, dict):
                    self.on_record(call_id, record)
            return
        if line.startswith(ROUTING_LINE):
            if self.on_routing is not None:
                self.on_routing(line.removeprefix(ROUTING_LINE))
            return
        if match := LISTENING.search(line):
            self.url = match.group(1)
            self.ready.set()
            log.info("omniroute engine (pid %s) listening at %s", self.pid, self.url)
            return
        level, _, rest = line.partition(" ")
        if level in LEVELS:
            self._level, line = LEVELS[level], rest
        log.log(self._level, "%s", line)

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to stop (stdin EOF, then SIGTERM, then SIGKILL)."""
        self._stopping = True
        self.ready.clear()
        proc = self.proc
        if proc is not None and proc.returncode is None:
            _ask_to_stop(proc)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await asyncio.sleep(0)  # let the pipes' transports close in this loop
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout)
            self._task = None

    def kill_now(self) -> None:
        """Synchronous last resort (interpreter exit): the child must not outlive us."""
        self._stopping = True
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()


def _ask_to_stop(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
