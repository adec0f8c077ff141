"""Fixtures: a scripted upstream and a running engine (see enginefakes)."""

from __future__ import annotations

import pytest
from enginefakes import FakeUpstream, Harness
from omniroute_mitm.engine.serve.server import Engine


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def upstream():
    fake = FakeUpstream()
    fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_engine():
    harnesses: list[Harness] = []

    def start(config, **kw) -> Harness:
        kw.setdefault("ping_interval", 0)
        engine = Engine(config, **kw)
        engine.start()
        harness = Harness(engine)
        harnesses.append(harness)
        return harness

    yield start
    for harness in harnesses:
        await harness.aclose()
