"""Fixtures of the end-to-end suite: one fake provider per worker, one mitmdump
per test module, SDK clients aimed at the real hosts through the proxy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import (
    CLIENT_KEY,
    FORMATS,
    Mitmdump,
    client_ssl_context,
    e2e_config,
    make_confdir,
    provider_key,
    start_mitmdump,
)
from fakeprovider import FakeProvider
from fakeprovider.sdk import Conn


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory) -> Path:
    return make_confdir(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def e2e_provider() -> Iterator[FakeProvider]:
    keys = [provider_key(name) for name in (*FORMATS, "slow")]
    fp = FakeProvider(accept_keys=keys).start()
    yield fp
    fp.stop()


@pytest.fixture
def fake(e2e_provider: FakeProvider) -> Iterator[FakeProvider]:
    e2e_provider.reset()
    yield e2e_provider
    e2e_provider.reset()


@pytest.fixture(scope="module")
def mitm(request, tmp_path_factory, ca_dir, e2e_provider) -> Iterator[Mitmdump]:
    """mitmdump for this module; a module may define ``MITM_CONFIG(request) -> dict``
    (``request.getfixturevalue`` reaches the providers) instead of the default config."""
    make = getattr(request.module, "MITM_CONFIG", None)
    config = make(request) if make else e2e_config(e2e_provider.port)
    proc = start_mitmdump(tmp_path_factory.mktemp("mitm"), ca_dir, config)
    yield proc
    proc.stop()
    assert not proc.blocked(), "a connection tried to leave loopback:\n" + "\n".join(
        proc.blocked())
    log = proc.output()
    leaked = [k for k in (CLIENT_KEY, *map(provider_key, FORMATS)) if k in log]
    assert not leaked, f"keys in mitmdump's log: {leaked}"


@pytest.fixture(scope="module")
def conn(mitm: Mitmdump) -> Iterator[Conn]:
    """SDK clients for the real hosts (api.openai.com, ...), through the proxy."""
    with Conn(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), api_key=CLIENT_KEY) as c:
        yield c
