"""Test-only mitmproxy addon: kills the engine child under a call that the
front has just routed to it, before the front can notice (its ``request``
hook runs after the front's). A call with the header ``x-test-kill-engine``
is such a call:

- ``1``: the engine dies before mitmproxy connects there (the hook blocks the
  event loop until it is dead): the front learns of the death only from the
  refused connection;
- ``unanswered``: the engine is stopped (SIGSTOP) before mitmproxy connects,
  so the kernel accepts the connection and takes the request while no code
  of the engine runs; once the request waits in its socket, SIGKILL. This is
  the engine killed under load, between the signal and its sockets' close:
  the call reached it, no response head came, nothing of it was routed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

from mitmproxy import ctx, http


def refused(url: str) -> bool:
    """The engine's port refuses connections: all its threads are gone (a
    zombie leader may still have threads holding the listening socket)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def request_waiting(port: int) -> bool:
    """A connection accepted by the kernel on ``port`` (127.0.0.1) holds
    bytes nobody has read yet (/proc/net/tcp: state 01, rx_queue > 0)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if int(local.rsplit(":", 1)[1], 16) == port and state == "01":
            if int(queues.split(":")[1], 16) > 0:
                return True
    return False


async def kill_when_request_waits(pid: int, port: int) -> None:
    deadline = time.monotonic() + 10
    while not request_waiting(port) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    os.kill(pid, signal.SIGKILL)


class EngineKiller:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def request(self, flow: http.HTTPFlow) -> None:
        how = flow.request.headers.pop("x-test-kill-engine", None)
        if how is None:
            return
        front = ctx.master.addons.get("omniroute")
        child = front.backend.child if front is not None else None
        pid = child.pid if child is not None else None
        url = f"http://{flow.request.host}:{flow.request.port}"
        assert pid is not None and "omniroute" in flow.metadata, "not routed to a child"
        if how == "unanswered":
            os.kill(pid, signal.SIGSTOP)
            task = asyncio.ensure_future(kill_when_request_waits(pid, flow.request.port))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not refused(url) and time.monotonic() < deadline:
            time.sleep(0.005)


addons = [EngineKiller()]
