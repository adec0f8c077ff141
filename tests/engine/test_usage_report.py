"""scripts/usage on a seeded store: terminal table, CSV, JSON, PNG, filters."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest
from omniroute_mitm.engine.core.database import open_store
from omniroute_mitm.engine.core.quota import Quota
from omniroute_mitm.engine.ops import usage_cli
from omniroute_mitm.engine.record.usage import COLUMNS, INSERT, UsageLog, row
from omniroute_mitm.engine.serve import dashboard
from usage_seed import record, seed

ROOT = Path(__file__).resolve().parents[2]
SQLITE = "sqlite:///omniroute.sqlite"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    """The usage store on each backend (PostgreSQL: a real server, tests/team)."""
    return SQLITE if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def run(base: Path, *args: str, url: str = SQLITE) -> str:
    out = io.StringIO()
    assert usage_cli.main(["--data-dir", str(base), "--store", url, "--all", *args], out=out) == 0
    return out.getvalue()


def test_json_groups_by_provider(tmp_path, url):
    seed(tmp_path, url)
    groups = {g["provider"]: g
              for g in json.loads(run(tmp_path, "--by", "provider", "--json", url=url))}
    ds, gem, native = groups["ds"], groups["gem"], groups["native/anthropic"]
    assert (ds["requests"], gem["requests"], native["requests"]) == (12, 9, 3)
    assert ds["cost"] == pytest.approx(0.12) and native["cost"] == pytest.approx(1.5)
    assert ds["input_tokens"] == 12_000 and ds["cache_read_tokens"] == 36_000
    assert gem["error_rate"] == pytest.approx(3 / 9, abs=1e-4)
    assert gem["fallback_rate"] == pytest.approx(3 / 9, abs=1e-4)
    assert ds["ttft_p50_ms"] == pytest.approx(450.0) and ds["ttft_p95_ms"] == pytest.approx(600.0)
    assert gem["unpriced"] == 3
    assert gem["cost"] == pytest.approx(0.12)  # the failed request has no cost
    assert list(groups) == ["native/anthropic", "ds", "gem"]  # by cost, then requests


def test_filters_and_rows(tmp_path, url):
    seed(tmp_path, url)
    found = json.loads(run(tmp_path, "--rows", "--json", "--provider", "gem",
                           "--since", "2026-11-29", "--until", "2026-11-30", url=url))
    assert len(found) == 3 and {r["provider"] for r in found} == {"gem"}
    assert found[0]["fallbacks"] == "ds/deepseek-chat: 429" and found[1]["status"] == 502
    assert found[0]["key_id"] == "3f2a9c01be" and "time" in found[0]
    by_app = json.loads(run(tmp_path, "--by", "app", "--json", "--app", "codex", url=url))
    assert [g["app"] for g in by_app] == ["codex"]


def test_csv_by_day(tmp_path, url):
    seed(tmp_path, url)
    table = list(csv.DictReader(io.StringIO(run(tmp_path, "--csv", url=url))))
    assert [r["day"] for r in table] == ["2026-11-28", "2026-11-29", "2026-11-30"]
    assert {r["requests"] for r in table} == {"8"}
    assert float(table[0]["cost"]) == pytest.approx(0.04 + 0.04 + 0.5)


def test_terminal_table(tmp_path):
    seed(tmp_path)
    text = run(tmp_path, "--by", "model")
    assert "usage by model" in text and "deepseek-chat" in text and "claude-sonnet-4-5" in text
    assert "33.3%" in text  # gemini's error and fallback rates
    assert "┃" in text or "|" in text  # a rich table, not padded strings


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    seed(tmp_path)
    png = tmp_path / "usage.png"
    run(tmp_path, "--plot", str(png))
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000  # axes, bars, legend


def test_missing_store_and_bad_date_are_one_line(tmp_path):
    proc = subprocess.run([str(ROOT / "scripts/usage"), "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("omniroute-usage: no usage store at")
    seed(tmp_path)
    proc = subprocess.run([str(ROOT / "scripts/usage"), "--data-dir", str(tmp_path),
                           "--since", "last week"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "omniroute-usage: --since: want YYYY-MM-DD, got 'last week'"


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`omniroute-usage --rows --json | head -1`: no BrokenPipeError traceback."""
    for copy in range(40):  # ~1,000 rows: more than a pipe's buffer holds
        seed(tmp_path / str(copy))
        if copy:
            # closing(): a connection's own `with` commits but never closes it (the
            # unclosed ones fail a later test of the worker as ResourceWarnings)
            with closing(sqlite3.connect(tmp_path / "0" / "omniroute.sqlite")) as db, db:
                db.execute("ATTACH ? AS other", (str(tmp_path / str(copy) / "omniroute.sqlite"),))
                names = ", ".join(f'"{c}"' for c in COLUMNS)  # ("user", "group": keywords)
                db.execute(f"INSERT INTO requests ({names}) SELECT {names} FROM other.requests")
    tmp_path = tmp_path / "0"
    usage = subprocess.Popen([str(ROOT / "scripts/usage"), "--data-dir", str(tmp_path), "--rows",
                              "--json", "--all"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)  # fmt: skip
    assert usage.stdout is not None
    usage.stdout.readline()
    usage.stdout.close()  # what head does after its first line
    _, err = usage.communicate(timeout=30)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert usage.returncode in (0, 141)


def test_plot_with_nothing_priced_has_no_negative_axis_and_a_clear_legend():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from omniroute_mitm.engine.ops.usage_cli import figure

    day = {"cost": 0.0, "input_tokens": 900, "cache_read_tokens": 0, "cache_write_tokens": 0,
           "output_tokens": 120}  # fmt: skip
    fig = figure(plt, [{**day, "day": "2026-12-01"}, {**day, "day": "2026-12-02"}])
    cost_ax, tok_ax = fig.axes
    assert cost_ax.get_ylim()[0] == 0
    assert any("not priced" in t.get_text() for t in cost_ax.texts)
    fig.canvas.draw()
    legend = tok_ax.get_legend().get_window_extent()
    assert legend.x0 >= tok_ax.get_window_extent().x1  # beside the bars, not over them
    plt.close(fig)


def test_target_health_leaves_out_requests_that_reached_no_target(tmp_path, url):
    now = time.time()
    log = UsageLog(open_store(url, base=tmp_path))
    log.store.write(INSERT, row(record(1, now - 60, "ds", "deepseek-chat", "claude-cli")))
    for n, error, status in ((2, "bad JSON", 400), (3, "client disconnected", 499)):
        gone = record(n, now - 50 + n, "", "", "codex", status=status, error=error,
                      attempts=[], tokens=None, cost=None)
        log.store.write(INSERT, row(gone))
    log.close()
    store = open_store(url, base=tmp_path)
    page = dashboard.render(store, now).decode()
    store.close()
    recent, health = page.split("<h2>Target health (last hour)</h2>", 1)
    assert "bad JSON" in recent  # still listed among the requests
    assert "<td>ds/deepseek-chat</td>" in health
    assert "<td>/</td>" not in health and "bad JSON" not in health
    assert "client disconnected" not in health


def test_the_dashboard_says_not_priced_the_same_way_everywhere_and_names_the_models(
    tmp_path, url
):
    now = time.time()
    log = UsageLog(open_store(url, base=tmp_path))
    log.store.write(INSERT, row(record(1, now - 60, "ds", "deepseek-chat", "claude-cli",
                                       cost=None)))  # fmt: skip
    log.store.write(INSERT, row(record(2, now - 50, "gem", "gemini-2.5-flash", "codex",
                                       cost=0.02)))  # fmt: skip
    log.close()
    store = open_store(url, base=tmp_path)
    page = dashboard.render(store, now).decode()
    store.close()
    assert "$0.0000" not in page and "<td>-</td>" not in page
    assert "Cost today<b>$0.0200 + 1 not priced</b>" in page
    assert "not priced: ds/deepseek-chat" in page
    recent = page.split("<h2>Recent requests</h2>", 1)[1].split("</table>", 1)[0]
    assert recent.count("not priced") == 1 and "$0.0200" in recent


def test_the_dashboard_shows_the_newest_reading_of_each_quota_window(tmp_path, url):
    seed(tmp_path, url)  # one native row a day, all in the window unified-5h
    store = open_store(url, base=tmp_path)
    log = UsageLog(store)
    later = record(99, time.time() - 60, "native/anthropic", "claude-sonnet-4-5", "claude-cli",
                   native=True, target="native",
                   quota=Quota(0.87, time.time() + 3600, False, "unified-5h", {}))  # fmt: skip
    log.store.write(INSERT, row(later))
    store.flush()
    page = dashboard.render(store).decode()
    store.close()
    quotas = page.split("<h2>Quota windows seen on native traffic</h2>", 1)[1]
    quotas = quotas.split("</table>", 1)[0]
    assert quotas.count("unified-5h") == 1 and "87%" in quotas and "42%" not in quotas


def test_omniroute_usage_says_in_one_line_when_postgresql_is_down(tmp_path, capsys):
    code = usage_cli.main(["--data-dir", str(tmp_path), "--store",
                           "postgresql://nobody@127.0.0.1:1/none", "--all"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0
    assert "unreachable" in err and "127.0.0.1:1" in err
