"""scripts/bench_failover.py runs and reports its figures (a smoke run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_failover.py"
ROW = re.compile(  # name, then break->byte, failover, next TTFB, bound; ratio; provider alone
    r"^\(same target, (.+?)\)((?:\s+[\d.]+ ms){4})\s+([\d.]+)\s+[\d.]+ ms \(([\d.]+)", re.M
)


def test_the_failover_benchmark_reports_each_fault_and_each_continuation():
    out = subprocess.run([sys.executable, str(SCRIPT), "--runs", "3"], capture_output=True,
                         text=True, timeout=180, check=True).stdout  # fmt: skip
    assert len(re.findall(r"^(?:503|429|200, then).*?(?:\s+[\d.]+ ms){3}$", out, re.M)) == 3, out
    rows = ROW.findall(out)
    assert [row[0] for row in rows] == ["Anthropic prefill", "OpenAI Chat, by instruction"], out
    for _, times, ratio, strict in rows:
        to_byte, failover, ttfb, bound = (float(t) for t in re.findall(r"[\d.]+", times))
        assert abs(bound - failover - ttfb) < 0.02  # (each rounded to 0.01)
        assert float(ratio) > 0 and float(strict) > 0 and to_byte > failover
    assert "the engine in its own process" in out
