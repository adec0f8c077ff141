"""Shared fixtures. ``tests/`` is on sys.path (rootdir conftest), so test modules
can ``from fakeprovider import FakeProvider, Reply``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakeprovider import FakeProvider


@pytest.fixture(scope="session")
def fake_provider_server() -> Iterator[FakeProvider]:
    fp = FakeProvider().start()
    yield fp
    fp.stop()


@pytest.fixture
def fake_provider(fake_provider_server: FakeProvider) -> Iterator[FakeProvider]:
    """The session's fake provider, with an empty script and log for this test."""
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()
