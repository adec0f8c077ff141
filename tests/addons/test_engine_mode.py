"""The front's engine modes: a child process by default (real `python -m
engine`), in-process on request; a model call waits for a starting child."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons
from omniroute_mitm.engine.core.headers import ROUTE_HEADER, SECRET_HEADER
from omniroute_mitm.front import addon as front_addon
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
