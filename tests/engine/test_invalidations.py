"""The shared store's mirror and the server's announcements (client-side
caching): a request whose keys the mirror is known to hold makes no round
trip, and still sees every write another instance finished before it began."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest
from omniroute_mitm.engine.core.stateurl import parse_state_url
from omniroute_mitm.engine.route.shared import SharedStore
from shared_sync import shared_url
from team.servers_valkey import command, ping, start_server

pytestmark = pytest.mark.anyio

KEYS = ["cool:k", "stats:t", "uses:t", "rr:combo"]


class Counted:
    """A store whose reads of the server are counted."""

    def __init__(self, url: str, **kw) -> None:
        where = parse_state_url(url if "?" in url else shared_url(url))
        assert where is not None
        self.store = SharedStore(where, **kw)
        self.reads = 0
        real = self.store._read

        async def counted(*args, **kwargs):
            self.reads += 1
            return await real(*args, **kwargs)

        self.store._read = counted

    async def tracked(self) -> Counted:
        self.store.start()
        await wait_until(lambda: self.store.tracking.on)
        return self


async def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def stores(redis_url) -> AsyncIterator[Callable[[], Counted]]:
    made: list[Counted] = []

    def make() -> Counted:
        made.append(Counted(redis_url))
        return made[-1]

    yield make
    for one in made:
        await one.store.close()


async def test_known_keys_are_not_read_again_until_another_instance_writes_one(stores):
    a, b = await stores().tracked(), await stores().tracked()
    await b.store.refresh(KEYS)
    await b.store.refresh(KEYS)
    assert b.reads == 1  # the second request waited for nothing
    a.store.set("cool:k", "hot", ttl=60)
    await a.store.flush()
    await b.store.refresh(KEYS)  # (at once: the announcement is read, or still unread)
    assert (b.reads, b.store.get("cool:k")) == (2, "hot")
    await b.store.refresh(KEYS)
    assert b.reads == 2


async def test_counters_stay_exact_across_instances(stores):
    a, b = await stores().tracked(), await stores().tracked()
    seen = []
    for one in (a, b, a, a, b, b, a):
        await one.store.refresh(["rr:combo"])
        seen.append(one.store.incr("rr:combo"))
        await one.store.flush()
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert (a.reads, b.reads) == (3, 2)  # a read only after b had counted, and b after a


async def test_this_instances_own_writes_keep_its_keys_known(stores):
    b = await stores().tracked()
    await b.store.refresh(KEYS)
    b.store.set("cool:k", "mine", ttl=60)
    b.store.incr("uses:t")
    b.store.delete("cool:k")
    b.store.set("stats:t", "{}")
    await b.store.flush()
    await b.store.refresh(KEYS)
    assert b.reads == 1
    assert (b.store.get("cool:k"), b.store.get("uses:t"), b.store.get("stats:t")) == (
        None, "1", "{}",
    )  # fmt: skip


async def test_a_key_gone_from_the_mirror_is_read_again(stores):
    a, b = await stores().tracked(), await stores().tracked()
    a.store.set("cool:k", "short", ttl=0.05)
    await a.store.flush()
    await b.store.refresh(KEYS)
    assert b.store.get("cool:k") == "short"
    await asyncio.sleep(0.1)  # expired in b's mirror (announced or not by the server)
    await b.store.refresh(KEYS)
    assert (b.reads, b.store.get("cool:k")) == (2, None)


async def test_a_write_announced_while_a_read_is_on_the_way_is_read_again(stores):
    a, b = await stores().tracked(), await stores().tracked()
    real = b.store._read

    async def raced(*args, **kw):  # the server answers, then another instance writes
        answer = await real(*args, **kw)
        a.store.set("cool:k", "after the read", ttl=60)
        await a.store.flush()
        await wait_until(lambda: b.store.tracking.channel.quiet())
        return answer

    b.store._read = raced
    await b.store.refresh(KEYS)
    assert b.store.get("cool:k") is None  # what the read saw
    b.store._read = real
    await b.store.refresh(KEYS)
    assert b.store.get("cool:k") == "after the read"


async def test_a_flushed_server_forgets_what_was_known(stores, redis_server):
    b = await stores().tracked()
    b.store.set("cool:k", "kept", ttl=60)
    await b.store.flush()
    await b.store.refresh(KEYS)
    assert (b.reads, b.store.get("cool:k")) == (1, "kept")
    redis_server.flush()  # FLUSHALL: announced as "every key"
    # the announcement read (waiting for a quiet channel alone raced it: the
    # push may not have reached the socket yet when the flush command returns)
    await wait_until(lambda: "cool:k" not in b.store.tracking.known)
    await b.store.refresh(KEYS)
    assert (b.reads, b.store.get("cool:k")) == (2, None)


async def test_a_server_that_refuses_tracking_is_read_every_time(redis_server, caplog):
    caplog.set_level(logging.WARNING, logger="omniroute_mitm.engine.route.invalidations")
    command(redis_server.port, "ACL", "SETUSER", "notrack", "on", ">pw", "~*", "&*",
            "+@all", "-client", "-subscribe")  # fmt: skip
    b = Counted(f"redis://notrack:pw@127.0.0.1:{redis_server.port}/0?timeout=10")
    b.store.start()
    await wait_until(lambda: b.store.tracking.refused is not None)
    for _ in range(3):
        await b.store.refresh(KEYS)
        b.store.incr("uses:t")
        await b.store.flush()
    assert (b.reads, b.store.up, b.store.get("uses:t")) == (3, True, "3")
    assert [r.getMessage() for r in caplog.records if "does not announce" in r.getMessage()]
    await b.store.close()


async def test_a_silent_server_stops_the_mirror_being_trusted(tmp_path):
    server = start_server(tmp_path / "slow", "--enable-debug-command", "local")
    b = Counted(server.url + "?timeout=0.5")
    b.store.tracking.channel.keepalive = 0.2
    try:
        await b.tracked()
        await b.store.refresh(KEYS)
        sleeper = asyncio.create_task(
            asyncio.to_thread(command, server.port, "DEBUG", "SLEEP", "2")
        )
        await wait_until(lambda: not ping(server.port, timeout=0.05))  # asleep now
        await wait_until(lambda: not b.store.tracking.on)  # a PING left unanswered
        await b.store.refresh(KEYS)
        assert b.reads == 2  # read (and found too slow: this instance's memory)
        assert not b.store.up
        await sleeper
    finally:
        await b.store.close()
        server.stop()
