"""The translation benchmark still runs and checks its own output (a smoke
run: it asserts that every direction translates, never how fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_translate.py"


def test_quick_benchmark_covers_every_direction_without_problems() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--no-litellm", "--json", "--events", "200"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout)
    pairs = {(s["client"], s["provider"]) for s in report["streams"]}
    assert len(pairs) == 16  # 12 translated directions + 4 passthroughs
    assert [s for s in report["streams"] if s["problem"]] == []
    assert all(s["events"] >= 200 for s in report["streams"])
    assert report["blocked_network_attempts"] == []
