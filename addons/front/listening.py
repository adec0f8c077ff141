"""Where the proxy listens: loopback unless told otherwise, never an open
proxy beyond loopback, and at no moment an address it was not told to.

mitmdump starts binding its listeners before it loads a script (its script
loader defers the load to the event loop), with ``listen_host`` still unset,
that is every interface. The script loads while that bind waits for its
address lookup, before any socket listens. :class:`BindGuard`, installed in
the addon's ``load``, sees the sockets between their bind and their
``listen()``: a wildcard socket the user did not ask for is replaced by one on
the loopback address (same port); a listener refused (beyond loopback with no
``proxyauth``) is closed. A socket closed before ``listen()`` never accepted
anything. The guard is removed once mitmproxy runs. (A listener on an IP
address the user named binds before the script loads, with no lookup to wait
for; refused, the addon closes every connection to it until mitmdump exits.)
"""

from __future__ import annotations

import asyncio.base_events
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from mitmproxy.proxy import mode_specs

log = logging.getLogger("omniroute")

LOOPBACK = "127.0.0.1"
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def exposed(modes: Iterable[str], listen_host: str, listen_port: int | None) -> list[str]:
    """The listen addresses of ``modes`` beyond loopback (``*`` for all)."""
    out = []
    for spec in modes:
        try:
            mode = mode_specs.ProxyMode.parse(spec)
        except ValueError:
            continue  # mitmproxy itself says why
        if mode.listen_port(listen_port) is None:
            continue
        host = mode.listen_host(listen_host)
        if not is_loopback(host):
            out.append(host or "*")
    return out


def custom_hosts(modes: Iterable[str]) -> bool:
    """A mode names its own listen host (``--mode regular@0.0.0.0:8080``)."""
    for spec in modes:
        try:
            if mode_specs.ProxyMode.parse(spec).custom_listen_host is not None:
                return True
        except ValueError:
            continue
    return False


def refusal(hosts: list[str]) -> str:
    where = ", ".join(dict.fromkeys(hosts))
    return (
        f"omniroute: refusing to listen on {where} without proxyauth: anyone who reaches "
        "the port would spend the providers' keys in config.yaml (an open proxy). Give "
        "users credentials (--set proxyauth=@path/to/htpasswd, or user:password), listen "
        "on 127.0.0.1, or on a trusted network only --set omniroute_open_proxy=true"
    )


class BindGuard:
    """Sees each asyncio server's sockets before they listen (see the module)."""

    def __init__(self) -> None:
        self.to_loopback = False
        """The user gave no listen host: wildcard sockets become loopback ones."""
        self.refuse = False
        """Close every socket beyond loopback (an open proxy refused)."""
        self.moved = 0
        """Wildcard sockets replaced (the addon need not rebind)."""
        self._original: Callable[[Any], None] | None = None

    def install(self) -> None:
        if self._original is None:
            self._original = asyncio.base_events.Server._start_serving
            guard = self

            def start_serving(server: Any) -> None:
                guard.check(server)
                assert guard._original is not None
                guard._original(server)

            asyncio.base_events.Server._start_serving = start_serving  # type: ignore[method-assign]

    def remove(self) -> None:
        if self._original is not None:
            asyncio.base_events.Server._start_serving = self._original  # type: ignore[method-assign]
            self._original = None

    def check(self, server: Any) -> None:
        if not (self.to_loopback or self.refuse) or getattr(server, "_serving", True):
            return
        keep: list[socket.socket] = []
        ports: list[int] = []
        for sock in server._sockets:
            host, port = sock.getsockname()[:2]
            if self.to_loopback and host in WILDCARDS:
                sock.close()
                ports.append(port)
            elif self.refuse and not is_loopback(host):
                sock.close()
            else:
                keep.append(sock)
        for port in dict.fromkeys(ports):
            keep.append(_bound(LOOPBACK, port))
            self.moved += 1
        server._sockets = keep


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setblocking(False)
    sock.bind((host, port))
    return sock
