"""Whether a proxy listens where the clients' env line points."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from .base import Context, Result

START = ".venv/bin/mitmdump -s addons/omniroute.py"


def check_proxy(ctx: Context) -> Iterator[Result]:
    try:
        with socket.create_connection(("127.0.0.1", ctx.port), timeout=ctx.timeout):
            pass
    except OSError:
        yield Result("warning", "proxy", f"nothing listens at 127.0.0.1:{ctx.port} yet",
                     f"start it: {START}" + (f" -p {ctx.port}" if ctx.port != 8080 else ""))
        return
    yield Result("ok", "proxy", f"something listens at 127.0.0.1:{ctx.port}")
