"""Shared fixtures. ``tests/`` is on sys.path (rootdir conftest), so test modules
can ``from fakeprovider import FakeProvider, Reply``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fakeprovider import FakeProvider

pytest_plugins = [
    "team.servers_postgres",  # postgres_server, pg_url: a real PostgreSQL
    "team.servers_valkey",  # redis_server, redis_url, own_redis: a real Redis/Valkey
]


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An in-process front's database goes to a temp dir, never the repo's data/."""
    saved = os.environ.get("OMNIROUTE_DATA_DIR")
    os.environ["OMNIROUTE_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    yield
    if saved is None:
        del os.environ["OMNIROUTE_DATA_DIR"]
    else:
        os.environ["OMNIROUTE_DATA_DIR"] = saved


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
