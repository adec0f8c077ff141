"""The front's side of the shared memory for large bodies (engine.core.arena):
a large body leaves the request for the engine child, and comes back on the
flow (its place freed) once the engine has it or the flow ends."""

from __future__ import annotations

import os

import pytest
from omniroute_mitm.engine.core.arena import Arena, ArenaView
from omniroute_mitm.engine.core.headers import BODY_AT_HEADER
from test_identity import front  # noqa: F401  (the fixture)
from test_omniroute import make_flow

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux only (memfd)"),
]

URL = "https://api.anthropic.com/v1/messages"


def flow_of(size: int):
    return make_flow(URL, content=b'{"model":"m","messages":"' + b"x" * size + b'"}',
                     **{"x-api-key": "k"})  # fmt: skip


@pytest.fixture
def arena(front):  # noqa: F811
    addon, _ = front
    made = Arena.create(1 << 20)
    assert made is not None
    addon.backend.arena = made
    return addon, made


async def test_a_large_body_goes_by_the_arena_and_is_back_on_the_flow_once_routed(arena):
    addon, shared = arena
    flow = flow_of(200_000)
    sent = flow.request.raw_content
    addon._to_arena(flow)
    assert flow.request.raw_content == b"" and flow.request.headers["content-length"] == "0"
    at = flow.request.headers[BODY_AT_HEADER]
    assert ArenaView(os.dup(shared.fd)).read(at) == sent  # what the engine child reads
    addon._sent[flow.id] = flow
    addon._routed(flow.id)  # the engine announced it routes the call: it has the body
    assert flow.request.raw_content == sent
    assert flow.request.headers["content-length"] == str(len(sent))
    assert BODY_AT_HEADER not in flow.request.headers
    assert shared.held == 0


async def test_a_flow_that_fails_before_the_engine_took_its_body_frees_the_place(arena):
    addon, shared = arena
    flow = flow_of(100_000)
    sent = flow.request.raw_content
    addon._to_arena(flow)
    assert shared.held > 0
    await addon.error(flow)
    assert shared.held == 0 and flow.request.raw_content == sent


async def test_small_bodies_and_bodies_that_do_not_fit_go_over_the_socket(arena):
    addon, shared = arena
    small = flow_of(1_000)
    addon._to_arena(small)
    assert BODY_AT_HEADER not in small.request.headers and len(small.request.raw_content) > 1000
    big = flow_of(2 << 20)  # larger than the whole arena
    addon._to_arena(big)
    assert BODY_AT_HEADER not in big.request.headers and shared.held == 0
