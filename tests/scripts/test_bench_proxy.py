"""The proxy benchmark still runs every path end to end (a smoke run: real
mitmdump, engine and provider processes, a few short streams each; it asserts
that every path streamed without errors, never how fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "run.py"
PATHS = ("direct to the provider", "bare mitmdump (redirect only)",
         "omniroute default, same format", "omniroute default, cross-format",
         "omniroute default, 429 then next", "omniroute inprocess, cross-format",
         "engine as base URL, cross-format")

pytestmark = pytest.mark.e2e


def test_quick_proxy_benchmark_streams_through_every_path() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    first_table = out.stdout.split("Load levels:")[0]
    for path in PATHS:
        if "429" in path:  # measured one stream at a time: only in the failover line
            assert f"{path.split(',')[0]}: +" in out.stdout, out.stdout
            continue
        row = next((line for line in first_table.splitlines()
                    if line.startswith(f"| {path} |")), None)
        assert row is not None and row.endswith("| 0 |"), out.stdout  # streamed, no errors
    assert "Targets (issue 9):" in out.stdout


def test_quick_benchmark_with_the_shared_state_streams_and_checks_its_targets() -> None:
    pytest.importorskip("redis")
    from team.servers_valkey import NO_SERVER, server_binary

    if server_binary() is None:
        pytest.skip(NO_SERVER)
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--modes", "default",
                          "--state", "auto"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    row = next((line for line in out.stdout.split("Load levels:")[0].splitlines()
                if line.startswith("| omniroute default+redis, cross-format |")), None)
    assert row is not None and row.endswith("| 0 |"), out.stdout  # streamed, no errors
    shared = out.stdout.split("Targets (issue 18, the shared state):")[1]
    assert "redis state: streams/s x memory state @4 (>= 0.9)" in shared
    assert "redis state: median TTFB ms minus memory state's @4 (<= 1.0)" in shared
