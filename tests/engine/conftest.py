"""Fixtures: a scripted upstream and a running engine (see enginefakes)."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/ is on sys.path (the root conftest), so tests/engine/ would shadow the
# engine package as a namespace package: put addons/ (its real home) first.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "addons"))
if getattr(sys.modules.get("engine"), "__file__", "") is None:
    del sys.modules["engine"]

import pytest  # noqa: E402
from engine import Engine  # noqa: E402
from enginefakes import FakeUpstream, Harness  # noqa: E402


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
