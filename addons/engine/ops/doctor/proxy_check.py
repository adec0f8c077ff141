"""Whether omniroute listens where the clients' env line points: its status page
(http://omniroute/status, which only omniroute's front serves) through the proxy."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx

from .base import Context, Result

START = ".venv/bin/mitmdump -s addons/omniroute.py"
PAGE = "http://omniroute/status"


def check_proxy(ctx: Context) -> Iterator[Result]:
    where = f"127.0.0.1:{ctx.port}"
    start = f"start it: {START}" + (f" -p {ctx.port}" if ctx.port != 8080 else "")
    try:
        with socket.create_connection(("127.0.0.1", ctx.port), timeout=ctx.timeout):
            pass
    except OSError:
        yield Result("warning", "proxy", f"nothing listens at {where} yet", start)
        return
    try:
        with httpx.Client(proxy=f"http://{where}", trust_env=False, timeout=ctx.timeout) as c:
            status = c.get(PAGE).status_code
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        status, detail = 0, f"{PAGE} through it failed: {reason}"
    else:
        detail = f"{PAGE} through it answered {status}"
    if status == 200:
        yield Result("ok", "proxy", f"omniroute answers at {where} ({PAGE})")
    else:
        yield Result("warning", "proxy", f"{where} is not omniroute ({detail})",
                     f"stop what listens at {where}, or start omniroute with -p N and pass "
                     "--port N")
