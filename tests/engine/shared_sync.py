"""The router and its strategies on a Redis server, for the synchronous unit
tests: each decision first forgets this instance's mirror and reads the
state back from the server (so whatever the test checks went through Redis),
and every report is sent before the call returns."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from omniroute_mitm.engine.core.stateurl import parse_state_url
from omniroute_mitm.engine.route.router import Decision, Router, RouteRequest
from omniroute_mitm.engine.route.shared import SharedStore
from omniroute_mitm.engine.route.state import Clock


def shared_url(url: str, prefix: str = "omniroute:") -> str:
    """A generous timeout: a loaded test machine must not look like an outage."""
    return f"{url}?timeout=10&prefix={prefix}"


class Loop:
    """One event loop kept across synchronous calls."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def store(self, url: str, clock: Clock) -> SharedStore:
        where = parse_state_url(shared_url(url))
        assert where is not None

        async def make() -> SharedStore:
            store = SharedStore(where, clock=clock)
            store.start()
            return store

        return self.run(make())

    def close(self, store: SharedStore) -> None:
        self.run(store.close())
        self.runner.close()


class SyncedRouter(Router):
    def __init__(self, url: str, clock: Clock, rng: random.Random) -> None:
        self.loop = Loop()
        self.shared = self.loop.store(url, clock)
        super().__init__(store=self.shared, clock=clock, rng=rng)

    def decide(self, config: Any, req: RouteRequest) -> Decision:
        self.shared.local.clear()
        self.loop.run(self.prefetch(config, req))
        decision = super().decide(config, req)
        self.loop.run(self.shared.flush())
        return decision

    def succeeded(self, *args: Any, **kw: Any) -> None:
        super().succeeded(*args, **kw)
        self.loop.run(self.shared.flush())

    def failed(self, *args: Any, **kw: Any) -> None:
        super().failed(*args, **kw)
        self.loop.run(self.shared.flush())

    def close(self) -> None:
        assert self.shared.up, "the server went away during the test"
        self.loop.close(self.shared)


class ThroughRedis:
    """A strategy's memory where each read comes from the server."""

    def __init__(self, url: str) -> None:
        self.loop = Loop()
        self.shared = self.loop.store(url, lambda: 0.0)

    def get(self, key: str) -> str | None:
        self.shared.local.clear()
        self.loop.run(self.shared.refresh([key]))
        return self.shared.get(key)

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self.shared.set(key, value, ttl)
        self.loop.run(self.shared.flush())

    def incr(self, key: str, ttl: float | None = None) -> int:
        self.get(key)
        count = self.shared.incr(key, ttl)
        self.loop.run(self.shared.flush())
        return count

    def close(self) -> None:
        assert self.shared.up, "the server went away during the test"
        self.loop.close(self.shared)
