"""Fixtures of the CLI suite: the real Claude Code, Codex and Gemini CLIs
(installed from npm by scripts/install_clients.sh; Qwen Code, OpenCode and
Aider by its ``reach`` and ``aider`` sets, in their test files), each run through its own
``mitmdump -s addons/omniroute.py`` with ``omniroute_offline_clients`` on,
its model calls routed to the fake provider speaking another format.

Reuses the end-to-end harness (tests/e2e/e2e_harness.py): the project's CA,
the offline guard (no connection from mitmproxy leaves loopback) and the
config whose catch-all never goes native.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from cli_harness import BIN, INSTALL, SIDE_MODEL, UPSTREAM_MODEL  # noqa: E402
from e2e_harness import (  # noqa: E402
    FORMATS,
    Mitmdump,
    base_url,
    copy_confdir,
    e2e_config,
    make_confdir,
    provider_key,
    write_config,
)
from fakeprovider import FakeProvider  # noqa: E402
from omniroute_mitm.engine.core.calls import is_ai_host  # noqa: E402

BLOCKED = re.compile(r"OFFLINE-GUARD blocked (\S+):\d+")


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    """The CLIs' bin dir, installed (or refreshed) from the pinned versions."""
    proc = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=1200)
    if proc.returncode == 3:
        pytest.skip(f"the CLI tests need npm to install the clients: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"scripts/install_clients.sh failed:\n{proc.stderr[-4000:]}"
    return BIN


@pytest.fixture(scope="session")
def cli_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_confdir(tmp_path_factory.mktemp("cli-ca"))


@pytest.fixture(scope="session")
def cli_provider() -> Iterator[FakeProvider]:
    fp = FakeProvider(accept_keys=[provider_key(fmt) for fmt in FORMATS]).start()
    yield fp
    fp.stop()


@pytest.fixture
def fake(cli_provider: FakeProvider) -> Iterator[FakeProvider]:
    cli_provider.reset()
    yield cli_provider
    cli_provider.reset()


@pytest.fixture(scope="session")
def cli_side_provider() -> Iterator[FakeProvider]:
    """A second fake provider for a CLI's side model calls (Claude Code's
    title call), so they never take a reply scripted for the main model."""
    fp = FakeProvider(accept_keys=[provider_key(fmt) for fmt in FORMATS]).start()
    yield fp
    fp.stop()


@pytest.fixture
def side(cli_side_provider: FakeProvider) -> Iterator[FakeProvider]:
    cli_side_provider.reset()
    yield cli_side_provider
    cli_side_provider.reset()


ProxyFactory = Callable[..., Mitmdump]


@pytest.fixture
def proxy_to(
    tmp_path: Path, cli_ca: Path, cli_provider: FakeProvider, cli_side_provider: FakeProvider
) -> Iterator[ProxyFactory]:
    """``proxy_to(client_format, target_format, side_models=None, extra=None)``: a mitmdump
    whose config routes every model call of that client format to
    ``fake-<target>/cli-upstream``, except models matching the glob
    ``side_models``, which go to the side provider in the same format.
    ``extra``: more top-level config sections. Its flows are saved to
    ``<confdir>/flows`` (the client's own requests)."""
    started: list[Mitmdump] = []

    def start(
        client: str, target: str, side_models: str | None = None, extra: dict | None = None
    ) -> Mitmdump:
        routes = [{"match": {"client": client}, "to": f"fake-{target}/{UPSTREAM_MODEL}"}]
        providers = {}
        if side_models:
            providers[f"side-{target}"] = {
                "format": target,
                "base_url": base_url(target, cli_side_provider.port),
                "keys": [provider_key(target)],
            }
            routes.insert(
                0,
                {
                    "match": {"client": client, "model": side_models},
                    "to": f"side-{target}/{SIDE_MODEL}",
                },
            )
        config = e2e_config(cli_provider.port, providers, extra_routes=routes) | (extra or {})
        confdir = copy_confdir(cli_ca, tmp_path / "confdir")
        mitm = Mitmdump(
            write_config(tmp_path / "config.yaml", config),
            confdir,
            "--set",
            "omniroute_offline_clients=true",
            "--set",
            f"save_stream_file={confdir / 'flows'}",
        ).start()
        started.append(mitm)
        return mitm

    yield start
    for mitm in started:
        mitm.stop()
        leaked = sorted({h for h in BLOCKED.findall(mitm.output()) if is_ai_host(h)})
        assert not leaked, (
            f"requests to {leaked} were neither routed nor answered locally:\n"
            + "\n".join(line for line in mitm.lines if "OFFLINE-GUARD" in line or "<<" in line)
        )
