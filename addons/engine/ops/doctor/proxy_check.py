"""Whether omniroute listens where the clients' env line points: its status page
(http://omniroute/status, which only omniroute's front serves) through the proxy."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from omniroute_mitm.engine.core.config import text_digest

from .base import Context, Result, show

START = ".venv/bin/mitmdump -s addons/omniroute.py --listen-host 127.0.0.1"
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
    page: Any = None
    try:
        with httpx.Client(proxy=f"http://{where}", trust_env=False, timeout=ctx.timeout) as c:
            resp = c.get(PAGE)
            status = resp.status_code
            if status == 200:
                with contextlib.suppress(ValueError):
                    page = resp.json()
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        status, detail = 0, f"{PAGE} through it failed: {reason}"
    else:
        detail = f"{PAGE} through it answered {status}"
    if status == 200:
        yield Result("ok", "proxy", f"omniroute answers at {where} ({PAGE})")
        if stale := _stale_config(ctx, page):
            yield stale
    elif status == 407:  # a team's gateway (proxyauth): the page needs a proxy user
        yield Result(
            "ok",
            "proxy",
            f"a proxy asking for proxy credentials answers at {where} "
            "(proxyauth: clients use HTTPS_PROXY=http://USER:PASSWORD@host:port)",
        )
    else:
        yield Result(
            "warning",
            "proxy",
            f"{where} is not omniroute ({detail})",
            f"stop what listens at {where}, or start omniroute with -p N and pass --port N",
        )


def _stale_config(ctx: Context, page: Any) -> Result | None:
    """The running proxy's config is not this file's text (a reload failed,
    e.g. a key variable exported here but not in mitmdump's shell)."""
    running = page.get("config") if isinstance(page, dict) else None
    if not isinstance(running, dict) or not running.get("path") or not running.get("sha256"):
        return None
    try:
        same_file = Path(running["path"]).resolve() == Path(ctx.config_path).resolve()
        text = Path(ctx.config_path).read_text("utf-8")
    except OSError:
        return None
    if not same_file or text_digest(text) == running["sha256"]:
        return None
    return Result("warning", "running config",
                  f"the proxy still runs an earlier version of {show(ctx.config_path)} "
                  "(its last reload failed)",
                  "read mitmdump's log for the reason (a key variable set here but not in "
                  "mitmdump's shell?), fix it, then save the file again")  # fmt: skip
