"""The front's engine modes: a child process by default (real `python -m
engine`), in-process on request; a model call waits for a starting child."""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons
from omniroute_mitm.engine.core.headers import ROUTE_HEADER, SECRET_HEADER
from omniroute_mitm.front import addon as front_addon
from omniroute_mitm.front.process import EngineProcess
from test_omniroute import make_flow, stop, write_config

pytestmark = pytest.mark.anyio


async def test_the_default_mode_runs_the_engine_as_a_child(tmp_path):
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, omniroute_config=str(write_config(tmp_path / "c.yaml")))
        assert addon.backend.mode == "process" and addon.backend.engine is None
        addon.running()
        flow = make_flow("https://api.anthropic.com/v1/messages", **{"x-api-key": "sk-client"})
        addon.request(flow)  # the child is still starting: the call waits for it
        assert flow.intercepted
        await asyncio.wait_for(flow.wait_for_resume(), 30)
        child = addon.backend.child
        assert child is not None and child.url is not None
        assert flow.request.url.startswith(child.url)
        assert flow.request.headers[SECRET_HEADER] == child.secret
        async with httpx.AsyncClient() as client:  # the child checks the front's secret
            resp = await client.post(
                f"{child.url}/v1/messages",
                headers={SECRET_HEADER: child.secret, "x-api-key": "k"},
                json={"model": "claude-x", "max_tokens": 5, "messages": []},
            )
            refused = await client.post(f"{child.url}/v1/messages", json={})
        assert resp.headers[ROUTE_HEADER].startswith("claude-x -> all failed")
        assert refused.status_code == 403
        proc = child.proc
        await stop(addon)
        assert proc is not None and proc.returncode is not None


async def test_the_mode_is_checked_and_cannot_change_once_running(tmp_path):
    addon = front_addon.OmniRoute()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match="omniroute_engine_mode"):
            tctx.configure(addon, omniroute_engine_mode="threads")
        tctx.configure(addon, omniroute_config=str(write_config(tmp_path / "c.yaml")))
        addon.running()
        with pytest.raises(exceptions.OptionsError, match="restart"):
            tctx.configure(addon, omniroute_engine_mode="inprocess")
        await stop(addon)


DYING_CHILD = """
import os, signal, sys
sys.stdin.readline()
print("engine listening at http://127.0.0.1:9", flush=True)
sys.stdin.readline()  # the test says when
for i in range(1000):  # (less than a pipe holds: all of it waits there at the death)
    os.write(1, b"omniroute routing call-%d\\n" % i)
os.kill(os.getpid(), signal.SIGKILL)
"""


class DyingChild(EngineProcess):
    def argv(self) -> list[str]:
        return [sys.executable, "-c", DYING_CHILD]


async def test_a_dead_child_is_gone_only_once_all_it_announced_is_read():
    """The front judges a call a dead child left unanswered only after
    ``exited``: by then every call the child said it began routing is known
    (its output read to the end), even when its death was seen first."""
    child = DyingChild("unused.yaml")
    announced: list[str] = []
    child.on_routing = announced.append
    child.start()
    try:
        assert await child.wait_ready(30)
        pid = child.pid
        assert pid is not None and child.proc is not None and child.proc.stdin is not None
        child.proc.stdin.write(b"go\n")
        time.sleep(1)  # the front's loop is busy: the child writes all, then dies
        for _ in range(3):  # the loop sees both the death and the output; reads a part
            await asyncio.sleep(0)
        assert await child.exited(pid, 30)
        assert announced == [f"call-{i}" for i in range(1000)]
    finally:
        await child.stop()
