"""Test-only mitmproxy addon: kills the engine child under a call that the
front has just routed to it, before mitmproxy connects there and before the
front can notice (its ``request`` hook runs after the front's and blocks the
event loop until the engine is dead). A call with the header
``x-test-kill-engine`` is such a call: the front learns of the death only from
the failed connection."""

from __future__ import annotations

import os
import signal
import socket
import time

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


class EngineKiller:
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.headers.pop("x-test-kill-engine", None) is None:
            return
        front = ctx.master.addons.get("omniroute")
        child = front.backend.child if front is not None else None
        pid = child.pid if child is not None else None
        url = f"http://{flow.request.host}:{flow.request.port}"
        assert pid is not None and "omniroute" in flow.metadata, "not routed to a child"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not refused(url) and time.monotonic() < deadline:
            time.sleep(0.005)


addons = [EngineKiller()]
