"""The state stores: what one instance writes, the other reads (the in-memory
store is one instance's both sides; the shared one two stores on a real
Redis server), counters that lose no increment, expiry, and the outage."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from omniroute_mitm.engine.core.stateurl import parse_state_url
from omniroute_mitm.engine.route.shared import LINGER, SharedStore
from omniroute_mitm.engine.route.state import MemoryStore, StateStore
from shared_sync import shared_url
from team.servers_valkey import command, ping, start_server

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Pair:
    a: StateStore
    b: StateStore
    sync: Callable[[list[str]], Awaitable[None]]
    """Send a's writes, read ``keys`` into b."""


def shared(url: str, clock: Callable[[], float] = time.time, **kw) -> SharedStore:
    where = parse_state_url(url if "?" in url else shared_url(url))
    assert where is not None
    store = SharedStore(where, clock=clock, **kw)
    store.start()
    return store


@pytest.fixture(params=["memory", "redis"])
async def pair(request) -> AsyncIterator[Pair]:
    if request.param == "memory":
        store = MemoryStore()

        async def nothing(keys: list[str]) -> None:
            return None

        yield Pair(store, store, nothing)
        return
    url = request.getfixturevalue("redis_url")
    a, b = shared(url), shared(url)

    async def sync(keys: list[str]) -> None:
        await a.flush()
        await b.refresh(keys)

    yield Pair(a, b, sync)
    await a.close()
    await b.close()


async def test_a_value_written_on_one_is_read_on_the_other(pair):
    pair.a.set("cool:k", "until 2000", ttl=60)
    pair.a.set("deck:c", "[1, 2]")
    await pair.sync(["cool:k", "deck:c", "never:set"])
    assert pair.b.get("cool:k") == "until 2000"
    assert pair.b.get("deck:c") == "[1, 2]"
    assert pair.b.get("never:set") is None
    pair.a.delete("cool:k")
    await pair.sync(["cool:k"])
    assert pair.b.get("cool:k") is None


async def test_counters_on_two_instances_lose_no_increment(pair):
    seen = []
    for store in (pair.a, pair.b, pair.a, pair.a, pair.b):
        if isinstance(store, SharedStore):  # a decision reads the count first
            await store.refresh(["rr:combo"])
        seen.append(store.incr("rr:combo"))
        if isinstance(store, SharedStore):
            await store.flush()
    assert seen == [1, 2, 3, 4, 5]


async def test_increments_at_the_same_moment_all_count(redis_url):
    a, b = shared(redis_url), shared(redis_url)
    for _ in range(3):
        a.incr("keys:p", ttl=60)
        b.incr("keys:p", ttl=60)
    await asyncio.gather(a.flush(), b.flush())
    assert "6" in {a.get("keys:p"), b.get("keys:p")}  # the later batch saw every increment
    c = shared(redis_url)
    await c.refresh(["keys:p"])
    assert c.get("keys:p") == "6"
    for store in (a, b, c):
        await store.close()


async def test_add_sums_amounts_in_usd_and_tokens(pair):
    assert pair.a.add("spend:alice:day", 0.25, ttl=86400) == 0.25
    assert pair.a.add("spend:alice:day", 1.5) == 1.75
    assert pair.a.add("tokens:alice:min", 1200) == 1200
    await pair.sync(["spend:alice:day", "tokens:alice:min"])
    assert float(pair.b.get("spend:alice:day") or 0) == 1.75
    assert pair.b.get("tokens:alice:min") == "1200"


def test_memory_expiry_and_ttl_only_when_new():
    clock = Clock()
    store = MemoryStore(clock=clock)
    store.set("cool:k", "x", ttl=10)
    assert store.incr("fails:t", ttl=5) == 1
    clock.now += 4
    assert store.incr("fails:t", ttl=5) == 2  # the window started at the first failure
    clock.now += 1.5
    assert store.get("fails:t") is None
    assert store.get("cool:k") == "x"
    clock.now += 5
    assert store.get("cool:k") is None
    assert store.add("spend", 0.5, ttl=1) == 0.5
    clock.now += 2
    assert store.add("spend", 0.5, ttl=1) == 0.5  # expired: a new window


async def test_the_server_keeps_expiry_and_counts_the_window_from_the_first_write(redis_url):
    a = shared(redis_url)
    a.set("cool:k", "x", ttl=60)
    a.incr("fails:t", ttl=30)
    a.set("aff:c:s", "b/m2")
    await a.flush()
    a.incr("fails:t", ttl=999)  # not new: keeps its 30 s window
    a.add("spend:u", 2.0, ttl=86400)
    await a.flush()
    await a.close()
    port = int(redis_url.split(":")[2].split("/")[0])
    assert 0 < _int(command(port, "PTTL", "omniroute:cool:k")) <= 60_000
    assert 0 < _int(command(port, "PTTL", "omniroute:fails:t")) <= 30_000
    assert _int(command(port, "PTTL", "omniroute:aff:c:s")) == -1
    assert command(port, "GET", "omniroute:fails:t").endswith(b"2\r\n")
    assert command(port, "GET", "omniroute:spend:u").endswith(b"2\r\n")


async def test_keys_carry_the_prefix_so_two_deployments_share_a_server(redis_url):
    blue, green = shared(redis_url + "?prefix=blue:"), shared(redis_url + "?prefix=green:")
    blue.set("cool:k", "blue's")
    await blue.flush()
    await green.refresh(["cool:k"])
    assert green.get("cool:k") is None
    await blue.close()
    await green.close()


async def test_a_refresh_never_undoes_a_write_still_on_its_way(redis_url):
    a, b = shared(redis_url), shared(redis_url)
    b.set("cool:k", "old")
    await b.flush()
    a.set("cool:k", "new")  # queued, not sent yet
    await a.refresh(["cool:k"])
    assert a.get("cool:k") == "new"
    await a.flush()
    await b.refresh(["cool:k"])
    assert b.get("cool:k") == "new"
    await a.close()
    await b.close()


async def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_an_outage_goes_on_locally_logs_once_and_resyncs(own_redis, caplog):
    caplog.set_level(logging.WARNING, logger="omniroute_mitm.engine.route.shared")
    a, b = shared(own_redis.url, probe_interval=0.05), shared(own_redis.url, probe_interval=0.05)
    a.incr("rr:combo")
    await a.flush()
    command(own_redis.port, "SAVE")
    own_redis.stop()

    await a.refresh(["rr:combo", "cool:k"])  # refused: no exception, no wait
    await b.refresh(["rr:combo"])
    assert not a.up and not b.up
    assert a.incr("rr:combo") == 2  # this instance's memory goes on
    b.incr("rr:combo")
    a.set("cool:k", "learned during the outage", ttl=600)
    await a.refresh(["rr:combo"])
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 2  # once per instance
    assert "going on with this instance's memory" in unreachable[0].getMessage()

    own_redis.start()  # with what it had saved: rr:combo = 1
    await wait_until(lambda: a.up and b.up)
    assert any("sharing resumes" in r.getMessage() for r in caplog.records)
    c = shared(own_redis.url)
    await c.refresh(["rr:combo", "cool:k"])
    assert c.get("rr:combo") == "3"  # 1 before, +1 on each instance meanwhile
    assert c.get("cool:k") == "learned during the outage"
    for store in (a, b, c):
        await store.close()


async def test_a_server_slower_than_the_timeout_is_an_outage_not_a_wait(tmp_path):
    server = start_server(tmp_path / "slow", "--enable-debug-command", "local")
    store = shared(server.url + "?timeout=0.1")
    try:
        assert await store.check()
        sleeper = asyncio.create_task(
            asyncio.to_thread(command, server.port, "DEBUG", "SLEEP", "3")
        )
        await wait_until(lambda: not ping(server.port, timeout=0.05))  # asleep now
        started = time.monotonic()
        await store.refresh(["cool:k"])
        waited = time.monotonic() - started
        assert not store.up
        assert waited < 2.5  # went on long before the server woke up
        await sleeper
    finally:
        await store.close()
        server.stop()


def _int(reply: bytes) -> int:
    assert reply.startswith(b":"), reply
    return int(reply[1:].strip())


async def test_a_key_of_the_wrong_type_is_no_outage(redis_url, caplog):
    a, b = shared(redis_url), shared(redis_url)
    b.set("n", "not a number")  # another deployment's key, say
    await b.flush()
    a.incr("n")  # the server refuses this one command
    a.set("cool:k", "still sent")
    await a.flush()
    assert a.up
    assert any("incr n" in r.getMessage() for r in caplog.records)
    port = int(redis_url.split(":")[2].split("/")[0])
    command(port, "HSET", "omniroute:h", "field", "1")  # not a string at all
    await b.refresh(["cool:k", "h"])
    assert b.up
    assert (b.get("cool:k"), b.get("h")) == ("still sent", None)
    await a.close()
    await b.close()


async def test_refreshes_that_come_while_a_read_is_on_the_way_share_the_next(redis_url):
    """Sixteen requests planned at once cost two round trips, not sixteen, and
    each sees what another instance wrote before it asked."""
    a, b = shared(redis_url), shared(redis_url)
    for i in range(16):
        a.set(f"cool:t{i}", f"v{i}", ttl=60)
    await a.flush()
    reads = 0
    real = b._read

    async def counted(*args, **kw):
        nonlocal reads
        reads += 1
        return await real(*args, **kw)

    b._read = counted
    await asyncio.gather(*(b.refresh([f"cool:t{i}", "rr:shared"]) for i in range(16)))
    assert reads == 2  # the first request's read, then one for the fifteen that came meanwhile
    assert [b.get(f"cool:t{i}") for i in range(16)] == [f"v{i}" for i in range(16)]
    await a.close()
    await b.close()


async def test_a_batchs_writes_of_one_key_go_as_one_to_the_same_end(redis_url):
    """Every request writes its target's use counter and stats: a batch sends
    each key once (the last SET or DEL, the increments summed), and the
    server ends where one command per write would have left it."""
    a, b = shared(redis_url), shared(redis_url)
    b.incr("uses:t")  # another instance's count: the sum comes back into a's mirror
    await b.flush()
    sent: list[list[tuple]] = []
    real = a._transaction

    async def counted(commands):
        sent.append(commands)
        return await real(commands)

    a._transaction = counted
    for i in range(4):
        a.incr("uses:t")
        a.set("stats:t", f"outcome {i}", ttl=60)
        a.incr("fails:t", ttl=30 + i)  # the first one's window
        a.add("spend:u", 0.25)
    a.set("cool:k", "x", ttl=60)
    a.delete("cool:k")
    a.set("mixed", "5")
    a.incr("mixed")
    a.incr("mixed")
    await a.flush()
    assert len(sent) == 1
    assert [c[0] for c in sent[0]] == [
        "INCRBY", "SET", "SET", "INCRBY", "INCRBYFLOAT", "DEL", "SET", "INCRBY"
    ]  # fmt: skip
    assert a.get("uses:t") == "5"
    assert (a.get("fails:t"), a.get("spend:u"), a.get("mixed")) == ("4", "1", "7")
    await b.refresh(["uses:t", "stats:t", "fails:t", "spend:u", "cool:k", "mixed"])
    assert b.get("uses:t") == "5" and b.get("stats:t") == "outcome 3"
    assert (b.get("fails:t"), b.get("spend:u"), b.get("mixed")) == ("4", "1", "7")
    assert b.get("cool:k") is None
    port = int(redis_url.split(":")[2].split("/")[0])
    assert 0 < _int(command(port, "PTTL", "omniroute:fails:t")) <= 30_000
    await a.close()
    await b.close()


async def test_an_idle_instances_writes_wait_for_company_briefly(redis_url):
    """A request's use counted as it starts and its outcome as it ends share
    a round trip (they were two, the engine's largest cost of the shared
    state); nothing waits longer than LINGER."""
    a = shared(redis_url)
    await a.check()
    sent = []
    real = a._transaction

    async def counted(commands):
        sent.append(time.monotonic())
        return await real(commands)

    a._transaction = counted
    await asyncio.sleep(0.05)  # idle
    began = time.monotonic()
    a.incr("uses:t")
    for _ in range(5):  # the writer's turn (it used to send at once)
        await asyncio.sleep(0)
    a.set("stats:t", "ok", ttl=60)
    port = int(redis_url.split(":")[2].split("/")[0])
    await wait_until(lambda: command(port, "GET", "omniroute:stats:t").endswith(b"ok\r\n"))
    assert len(sent) == 1
    assert LINGER * 0.9 <= sent[0] - began < 1.0
    await a.close()
