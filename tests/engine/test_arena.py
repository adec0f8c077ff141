"""Large request bodies from the front to its engine child in shared memory
(engine.core.arena): they arrive whole, their places are reused, and only
the front (its secret) can name one."""

from __future__ import annotations

import json
import os

import pytest
from enginefakes import Reply, make_config
from omniroute_mitm.engine.core.arena import ALIGN, Arena, ArenaView
from omniroute_mitm.engine.core.headers import BODY_AT_HEADER, SECRET_HEADER
from test_engine import ANTHROPIC_BODY, CONFIG, SSE, anthropic_sse, free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux only (memfd)"),
]


@pytest.fixture
def arena():
    made = Arena.create(1 << 20)
    assert made is not None
    yield made
    made.close()


def view_of(arena: Arena) -> ArenaView:
    return ArenaView(os.dup(arena.fd))  # (what a child inherits)


def test_bodies_come_out_as_they_went_in_and_their_places_are_reused(arena):
    view = view_of(arena)
    bodies = [os.urandom(n) for n in (100_000, 1, ALIGN, 300_000)]
    slots = [arena.put(body) for body in bodies]
    assert all(slot is not None for slot in slots)
    for slot, body in zip(slots, bodies, strict=True):
        assert view.read(slot.header()) == body
    arena.release(slots[1])
    again = arena.put(b"x" * 10)  # the first place free is the one given back
    assert again is not None and again.offset == slots[1].offset
    for slot in (slots[0], slots[2], slots[3], again):
        arena.release(slot)
    assert arena.held == 0
    whole = arena.put(b"y" * arena.size)  # the places merged back into one
    assert whole is not None and view.read(whole.header()) == b"y" * arena.size


def test_a_full_arena_says_so_and_takes_bodies_again_once_one_is_freed(arena):
    first = arena.put(b"a" * (arena.size // 2))
    second = arena.put(b"b" * (arena.size // 2))
    assert first is not None and second is not None
    assert arena.put(b"c") is None  # (the front sends it over the socket)
    arena.release(first)
    assert arena.put(b"c") is not None


@pytest.mark.parametrize(
    "at",
    [
        "",
        "x",
        "1",
        "0,1,2",
        "-1,5",
        "0,-5",
        f"{1 << 20},1",
        f"0,{(1 << 20) + 1}",
        "99999999999999,1",
    ],
)
def test_a_place_outside_the_arena_or_malformed_is_refused(arena, at):
    assert view_of(arena).read(at) is None


@pytest.fixture
def ant(upstream, start_engine, arena):
    harness = start_engine(
        make_config(CONFIG.replace("DEADPORT", str(free_port())), upstream), direct_token="tok-123"
    )
    harness.engine.arena = view_of(arena)
    return harness


def long_body() -> bytes:
    messages = [{"role": "user", "content": "word " * 30_000}]
    return json.dumps({**ANTHROPIC_BODY, "messages": messages}).encode()


async def test_the_front_names_the_place_and_the_provider_gets_the_body_as_sent(
    ant, arena, upstream
):
    upstream.script("/ant/v1/messages", Reply(200, anthropic_sse("from the arena"), SSE))
    body = long_body()
    slot = arena.put(body)
    assert slot is not None
    resp = await ant.post("/v1/messages", content=b"", headers={BODY_AT_HEADER: slot.header()})
    assert resp.status_code == 200 and "from the arena" in resp.text
    assert json.loads(upstream.seen[0].body) == {**json.loads(body), "model": "up-model"}


async def test_only_the_front_may_name_a_place(ant, arena, upstream):
    """A base-URL client (the direct token, not the front's secret) naming a
    place in the shared memory gets a 400 in its format: nothing is read,
    nothing reaches a provider."""
    slot = arena.put(long_body())
    assert slot is not None
    resp = await ant.client.post(
        "/v1/messages", content=b"",
        headers={"x-api-key": "tok-123", BODY_AT_HEADER: slot.header(),
                 "anthropic-version": "2023-06-01"},
    )  # fmt: skip
    assert resp.status_code == 400
    assert resp.json()["type"] == "error" and "did not reach the engine" in resp.text
    wrong = await ant.client.post(
        "/v1/messages", content=b"",
        headers={"x-api-key": "sk-client", SECRET_HEADER: "not-the-secret",
                 BODY_AT_HEADER: slot.header()},
    )  # fmt: skip
    assert wrong.status_code in (400, 403)
    assert upstream.seen == []


async def test_an_engine_without_the_arena_refuses_a_named_place(upstream, start_engine):
    harness = start_engine(make_config(CONFIG.replace("DEADPORT", str(free_port())), upstream))
    resp = await harness.post("/v1/messages", content=b"", headers={BODY_AT_HEADER: "0,10"})
    assert resp.status_code == 400 and "did not reach the engine" in resp.text
    assert upstream.seen == []


async def test_a_body_over_the_limit_is_refused_without_being_copied_out(
    ant, arena, upstream, monkeypatch
):
    """The size is the place's length: a body the engine will not take gets
    its 413 before any byte leaves the shared memory."""
    body = long_body()
    slot = arena.put(body)
    assert slot is not None
    copied: list[int] = []
    view = ant.engine.arena
    monkeypatch.setattr(view, "copy", lambda offset, length: copied.append(length) or b"")
    ant.engine.max_body = len(body) - 1
    resp = await ant.post("/v1/messages", content=b"", headers={BODY_AT_HEADER: slot.header()})
    assert resp.status_code == 413 and "over the limit" in resp.text
    assert copied == [] and upstream.seen == []
