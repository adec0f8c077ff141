"""Clients that never finish a request head are closed after a timeout.

mitmproxy closes a connection only after ``tcp_timeout`` (600 s) without any
traffic, so a client that sends half a request head (a byte now and then, or
nothing more) holds its connection, and its memory, for as long as it likes:
2,000 half-sent CONNECTs stayed open. :class:`HeadWatch` gives every
connection to a regular (or upstream) proxy listener ``omniroute_header_timeout``
seconds to complete its first request head (a CONNECT or a plain request);
after that it is closed. Idle kept-alive connections and tunnels after their
CONNECT are mitmproxy's ``tcp_timeout``'s business, as before.
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import connection, ctx, http

log = logging.getLogger(__name__)

WATCHED_MODES = ("regular", "upstream")
"""Listeners whose clients must start with an HTTP request head (a transparent,
SOCKS or WireGuard client may tunnel bytes that never form one)."""


class HeadWatch:
    def __init__(self) -> None:
        self._timers: dict[str, asyncio.TimerHandle] = {}
        """Connections that have not sent a complete request head yet."""
        self._closing: set[asyncio.Future[None]] = set()

    def client_connected(self, client: connection.Client) -> None:
        timeout = int(ctx.options.omniroute_header_timeout)
        if timeout <= 0 or client.proxy_mode.type_name not in WATCHED_MODES:
            return
        loop = asyncio.get_running_loop()
        self._timers[client.id] = loop.call_later(timeout, self._expired, client, timeout)

    def client_disconnected(self, client: connection.Client) -> None:
        self._disarm(client.id)

    def head(self, flow: http.HTTPFlow) -> None:
        """A complete request head arrived on the flow's connection."""
        self._disarm(flow.client_conn.id)

    def done(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _disarm(self, client_id: str) -> None:
        timer = self._timers.pop(client_id, None)
        if timer is not None:
            timer.cancel()

    def _expired(self, client: connection.Client, timeout: int) -> None:
        self._timers.pop(client.id, None)
        proxyserver = ctx.master.addons.get("proxyserver")
        handler = proxyserver.connections.get(client.id) if proxyserver is not None else None
        if handler is None:
            return  # gone meanwhile
        peer = ":".join(map(str, client.peername[:2])) if client.peername else "?"
        log.info("closing %s: no complete request head within %d s", peer, timeout)
        task = asyncio.ensure_future(handler.on_timeout())
        self._closing.add(task)  # (a task nobody refers to may be collected)
        task.add_done_callback(self._closing.discard)
