"""Test-only mitmproxy addon: no connection from mitmproxy leaves loopback.

Loaded next to addons/omniroute.py by the end-to-end harness. If any flow
would reach a real host (a native route, an unclassified side call), the
connection is killed before it opens and a line is logged for the test to see.
"""

from __future__ import annotations

import logging

from mitmproxy.proxy import server_hooks

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class OfflineGuard:
    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        address = data.server.address
        if address is None or address[0] in LOOPBACK:
            return
        data.server.error = f"offline guard: {address[0]} is not loopback"
        logging.warning("OFFLINE-GUARD blocked %s:%s", address[0], address[1])


addons = [OfflineGuard()]
