"""The memory soak still runs its three kinds of streams end to end (a short
smoke run: real mitmdump, engine and providers; it asserts that every kind
streamed without errors and that RSS was printed, never how much), and its
verdict tells a flat process from a growing one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench"


@pytest.mark.e2e
def test_a_short_soak_streams_every_kind_and_prints_both_processes_rss() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / "soak.py"), "--minutes", "0.25", "--streams", "4",
         "--long-kb", "50", "--events", "50", "--every", "5"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "| s | mitmdump RSS MB | engine RSS MB |" in out.stdout, out.stdout
    rows = [line for line in out.stdout.splitlines() if line[:2] == "| " and line[2:3].isdigit()]
    assert rows and all(float(cell) > 0 for cell in rows[-1].strip("|").split("|")[1:]), rows
    for kind in ("long requests, same format", "long requests, cross-format", "long streams"):
        line = next(line for line in out.stdout.splitlines() if line.startswith(f"- {kind}:"))
        assert "errors" not in line and int(line.split(": ")[1].split()[0]) > 0, line
    assert "too short to judge" in out.stdout  # nothing to say before the first minute


def test_the_verdict_flags_growth_after_the_first_minute_only() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import soak  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BENCH))
    samples = [(30.0, {"mitmdump": 100.0, "engine": 50.0}),  # growth in the first minute: fine
               (60.0, {"mitmdump": 200.0, "engine": 100.0}),
               (120.0, {"mitmdump": 215.0, "engine": 125.0}),
               (180.0, {"mitmdump": 205.0, "engine": 120.0})]  # fmt: skip
    mitmdump, engine = soak.verdict(samples)
    assert mitmdump.startswith("mitmdump: 200 MB at 60 s, at most 215 MB") and "(flat," in mitmdump
    assert engine.startswith("engine: 100 MB") and "+25.0% (GROWING" in engine
