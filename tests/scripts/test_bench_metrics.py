"""scripts/bench_metrics.py runs and reports its three figures (a smoke run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_metrics.py"


def test_the_metrics_benchmark_reports_cpu_per_request_and_per_scrape():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                         text=True, timeout=120, check=True).stdout  # fmt: skip
    figures = re.findall(r"^(observe|scrape)\b.*?([\d.]+) us CPU$", out, re.M)
    assert [name for name, _ in figures] == ["observe", "observe", "scrape"], out
    assert all(float(value) > 0 for _, value in figures)
