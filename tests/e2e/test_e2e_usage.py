"""Usage end to end: SDK requests through a real mitmdump, then the flow
comment (tokens, cost), ``scripts/usage --json`` and the dashboard at
http://omniroute/ through the proxy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from e2e_harness import ROOT, e2e_config, start_mitmdump
from fakeprovider import Reply, Usage
from fakeprovider.sdk import call

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).resolve().parent / "flow_probe.py"
PRICED = "claude-sonnet-4-5"  # in the price snapshot: $3 in, $15 out, $0.30 cache read,
# $3.75 a 5-minute cache write, $6 a one-hour one


@pytest.fixture(scope="module")
def mitm(tmp_path_factory, ca_dir, e2e_provider):
    tmp = tmp_path_factory.mktemp("usage")
    routes = [{"match": {"model": "priced"}, "to": f"fake-anthropic/{PRICED}"}]
    proc = start_mitmdump(tmp, ca_dir, e2e_config(e2e_provider.port, extra_routes=routes),
                          "-s", str(PROBE), "--set", f"flow_probe_file={tmp / 'flows.jsonl'}")
    proc.tmp = tmp
    yield proc
    proc.stop()
    assert not proc.blocked()


def usage_json(mitm, *args: str) -> list[dict]:
    out = subprocess.run(
        [str(ROOT / "scripts/usage"), "--data-dir", str(mitm.confdir / "data"), "--json", *args],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(out.stdout)


def wait_rows(mitm, count: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (mitm.confdir / "data" / "omniroute.sqlite").exists():
            found = usage_json(mitm, "--rows")
            if len(found) >= count:
                return found
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} rows in the store after 20 s")


def flow_count(mitm) -> int:
    probe = mitm.tmp / "flows.jsonl"
    return len(probe.read_text().splitlines()) if probe.exists() else 0


def next_flow(mitm, before: int) -> dict:
    """The flow after the first ``before`` (the client may finish reading an
    answer before the proxy's hooks have run)."""
    deadline = time.monotonic() + 10
    while flow_count(mitm) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads((mitm.tmp / "flows.jsonl").read_text().splitlines()[before])


def test_requests_are_in_the_report_with_tokens_and_cost(conn, fake, mitm):
    fake.script([
        Reply(text="cached answer", usage=Usage(2400, 300, cached=1500, written=400,
                                                written_1h=300)),
        Reply(text="second"),
    ])  # fmt: skip
    before = flow_count(mitm)
    assert call(conn, "openai-chat", "priced", stream=True).text == "cached answer"
    comment = next_flow(mitm, before)["comment"]
    assert comment.endswith(
        "[500 in + 1500 cache read + 400 cache write (300 1h) / 300 out, $0.008625]")
    assert call(conn, "gemini", "priced", stream=False).text == "second"
    first, second = wait_rows(mitm, 2)[-2:]
    assert (first["provider"], first["upstream_model"]) == ("fake-anthropic", PRICED)
    assert (first["input_tokens"], first["cache_read_tokens"], first["output_tokens"]) == (
        500, 1500, 300)
    assert (first["cache_write_tokens"], first["cache_write_1h_tokens"]) == (400, 300)
    assert first["cost"] == pytest.approx(
        (500 * 3 + 1500 * 0.3 + 100 * 3.75 + 300 * 6 + 300 * 15) / 1e6)
    assert (first["client_format"], second["client_format"]) == ("openai-chat", "gemini")
    assert second["cost"] > 0 and second["estimated"] == 0
    (by_model,) = [g for g in usage_json(mitm, "--by", "model") if g["model"] == PRICED]
    assert by_model["requests"] >= 2 and by_model["cost"] >= first["cost"] + second["cost"]


def row_count(mitm) -> int:
    if not (mitm.confdir / "data" / "omniroute.sqlite").exists():
        return 0
    return len(usage_json(mitm, "--rows"))


def test_dashboard_through_the_proxy(conn, fake, mitm):
    fake.script([Reply(text="for the page")])
    before = row_count(mitm)  # (other tests of the module may have written rows)
    call(conn, "anthropic", "priced", stream=True)
    wait_rows(mitm, before + 1)  # this call's own row is in
    with httpx.Client(proxy=mitm.url, trust_env=False, timeout=10) as client:
        page = client.get("http://omniroute/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert PRICED in page.text and "fake-anthropic" in page.text
    assert "<script" not in page.text and "http" not in page.text.split("<body>")[0]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUIET = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--no-pings", "--disable-domain-reliability",
         "--disable-client-side-phishing-detection", "--disable-features=OptimizationHints,"
         "MediaRouter,Translate,AutofillServerCommunication"]  # no traffic but the page's


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian: apt-get install chromium)")
def test_dashboard_in_headless_chromium(conn, fake, mitm, tmp_path, ca_dir, e2e_provider):
    """A real browser set to the proxy opens http://omniroute/ with no network."""
    fake.script([Reply(text="for the browser")])
    before = row_count(mitm)
    call(conn, "anthropic", "priced", stream=True)
    wait_rows(mitm, before + 1)
    # Its own mitmdump on the same store: Chromium's own services (update checks,
    # accounts) knock on the offline guard, which the module's proxy must not see.
    routes = [{"match": {"model": "priced"}, "to": f"fake-anthropic/{PRICED}"}]
    browser_proxy = start_mitmdump(
        tmp_path, ca_dir, e2e_config(e2e_provider.port, extra_routes=routes),
        "--set", f"omniroute_data_dir={mitm.confdir / 'data'}",
    )
    try:
        base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}", f"--proxy-server={browser_proxy.url}",
                "--window-size=1200,900", *QUIET]  # fmt: skip
        dom = subprocess.run([*base, "--dump-dom", "http://omniroute/"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        shot = tmp_path / "dashboard.png"
        subprocess.run([*base, f"--screenshot={shot}", "http://omniroute/"],
                       capture_output=True, timeout=120, check=True)  # fmt: skip
    finally:
        browser_proxy.stop()
    assert "<h1>omniroute usage</h1>" in dom.stdout, dom.stderr[-2000:]
    assert PRICED in dom.stdout and "Recent requests" in dom.stdout
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    left = {line.split()[-1] for line in browser_proxy.blocked()}
    assert all(re.search(r"\.(google|googleapis|gvt1)\.com:\d+$", h) for h in left), left


def test_web_searches_are_counted_and_priced(conn, fake, mitm):
    """The provider's searches (Anthropic's server_tool_use.web_search_requests)
    land in the row and its cost: $10 per 1,000 searches on top of tokens."""
    fake.script([Reply(text="searched answer", usage=Usage(1000, 100))])
    before, flows = row_count(mitm), flow_count(mitm)
    message = conn.anthropic().messages.create(
        model="priced", max_tokens=100, messages=[{"role": "user", "content": "news?"}],
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
    )  # fmt: skip
    assert message.usage.server_tool_use.web_search_requests == 1
    row = wait_rows(mitm, before + 1)[-1]
    assert row["web_searches"] == 1
    assert next_flow(mitm, flows)["comment"].endswith("/ 100 out, 1 web search, $0.0145]")
    assert row["cost"] == pytest.approx((1000 * 3 + 100 * 15) / 1e6 + 10 / 1000)
