"""The front and proxy users (taddons/tflow): the user mitmproxy's proxyauth
authenticated goes to the engine, a client's own claims never; listening
beyond loopback needs proxyauth."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow
from omniroute_mitm.engine.core.headers import SECRET_HEADER, USER_HEADER
from omniroute_mitm.front import addon as front_addon
from test_omniroute import make_flow, stop, write_config

pytestmark = pytest.mark.anyio

CLAIMS = {"x-omniroute-user": "mallory", "X-Omniroute-Secret": "guess",
          "x-omniroute-original-url": "https://elsewhere.example/"}  # fmt: skip


def proxyserver_options(tctx: taddons.context) -> None:
    """The options mitmproxy's proxyserver and proxyauth addons declare."""
    tctx.options.add_option("connection_strategy", str, "eager", "proxyserver's")
    tctx.options.add_option("listen_host", str, "", "proxyserver's")
    tctx.options.add_option("listen_port", int | None, None, "proxyserver's")  # type: ignore[arg-type]
    tctx.options.add_option("mode", Sequence[str], ["regular"], "proxyserver's")
    tctx.options.add_option("proxyauth", str | None, None, "proxyauth's")  # type: ignore[arg-type]


@pytest.fixture
async def front(tmp_path):
    addon = front_addon.OmniRoute()
    with taddons.context() as tctx:
        proxyserver_options(tctx)  # (mitmdump has them before it loads the script)
        tctx.master.addons.add(addon)
        tctx.configure(addon, omniroute_engine_mode="inprocess",
                       omniroute_config=str(write_config(tmp_path / "config.yaml")))  # fmt: skip
        yield addon, tctx
        await stop(addon)


def routed(addon, user: str | None):
    flow = make_flow("https://api.anthropic.com/v1/messages", **{"x-api-key": "k", **CLAIMS})
    if user is not None:
        flow.metadata["proxyauth"] = (user, "the-password")
    addon.requestheaders(flow)
    addon.request(flow)
    return flow


async def test_the_authenticated_user_goes_to_the_engine_and_claims_do_not(front):
    addon, _ = front
    flow = routed(addon, "alice smith/ü")
    headers = flow.request.headers
    assert headers.get_all(USER_HEADER) == ["alice%20smith%2F%C3%BC"]  # one, percent-encoded
    assert headers[SECRET_HEADER] == addon.backend.engine.secret
    assert headers["x-omniroute-original-url"] == "https://api.anthropic.com/v1/messages"
    assert "the-password" not in str(list(headers.items()))


async def test_without_proxyauth_no_user_and_no_claim_reach_the_engine(front):
    addon, _ = front
    flow = routed(addon, None)
    assert USER_HEADER not in flow.request.headers
    assert flow.request.headers[SECRET_HEADER] == addon.backend.engine.secret


async def test_the_comment_names_the_user(front):
    addon, _ = front
    flow = routed(addon, "alice")
    flow.response = tflow.tresp()
    addon.responseheaders(flow)
    assert flow.comment.endswith("(user alice)")


async def test_beyond_loopback_without_proxyauth_is_refused_at_start(tmp_path, caplog):
    addon = front_addon.OmniRoute()
    with taddons.context() as tctx:
        proxyserver_options(tctx)
        tctx.options.update(listen_host="0.0.0.0")  # --listen-host 0.0.0.0
        tctx.master.addons.add(addon)
        tctx.configure(addon, omniroute_engine_mode="inprocess",
                       omniroute_config=str(write_config(tmp_path / "c.yaml")))  # fmt: skip
        assert addon.backend.engine is None  # nothing started
        client = tflow.tclient_conn()
        addon.client_connected(client)
        assert client.error  # mitmproxy closes it
        await stop(addon)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert errors[0].startswith("omniroute: refusing to listen on 0.0.0.0 without proxyauth")


async def test_a_change_beyond_loopback_needs_proxyauth(front):
    addon, tctx = front
    with pytest.raises(exceptions.OptionsError, match="refusing to listen on 0.0.0.0"):
        tctx.options.update(listen_host="0.0.0.0")
    assert tctx.options.listen_host == "127.0.0.1"  # the change was undone
    tctx.options.update(proxyauth="alice:pw", listen_host="0.0.0.0")
    assert tctx.options.listen_host == "0.0.0.0"
