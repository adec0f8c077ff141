"""Metrics end to end: official SDK clients through a real mitmdump, then
``http://omniroute/metrics`` through the same proxy, parsed with
prometheus_client's text parser: the counters match what the requests did
and what the usage store holds."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest
from e2e_harness import CLIENT_KEY, ROOT, client_ssl_context, e2e_config, start_mitmdump
from fakeprovider import Reply, Usage
from fakeprovider.sdk import Conn, call
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

PRICED = "claude-sonnet-4-5"  # in the price snapshot
TOKEN_COLUMNS = {"input": "input_tokens", "output": "output_tokens",
                 "cache_read": "cache_read_tokens", "cache_write": "cache_write_tokens",
                 "reasoning": "reasoning_tokens"}  # fmt: skip


@pytest.fixture(scope="module")
def mitm(tmp_path_factory, ca_dir, e2e_provider):
    """A mitmdump of this module's own: its counters start at zero."""
    combos = {"fallback": {"strategy": "priority",
                           "targets": ["fake-openai-chat/primary", f"fake-anthropic/{PRICED}"]}}
    routes = [{"match": {"model": "fallback"}, "to": "fallback"},
              {"match": {"model": "priced"}, "to": f"fake-anthropic/{PRICED}"}]  # fmt: skip
    config = e2e_config(e2e_provider.port, extra_combos=combos, extra_routes=routes)
    config["resilience"] = {"rate_limit_cooldown": 300, "rate_limit_max": 600}
    proc = start_mitmdump(tmp_path_factory.mktemp("metrics"), ca_dir, config)
    yield proc
    proc.stop()
    assert not proc.blocked()


def usage_rows(mitm, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (mitm.confdir / "data" / "omniroute.sqlite").exists():
            out = subprocess.run(
                [str(ROOT / "scripts/usage"), "--data-dir", str(mitm.confdir / "data"),
                 "--json", "--rows"],
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            rows = json.loads(out.stdout)
            if len(rows) >= count:
                return rows
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} usage rows after 30 s")


def scrape(mitm) -> dict[tuple[str, frozenset], float]:
    with httpx.Client(proxy=mitm.url, trust_env=False, timeout=10) as client:
        page = client.get("http://omniroute/metrics")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(page.text)
        for s in family.samples
    }


def total(found: dict, metric: str, /, **labels: str) -> float:
    """The sum of ``metric`` over the series whose labels include ``labels``."""
    return sum(v for (n, key), v in found.items()
               if n == metric and labels.items() <= dict(key).items())  # fmt: skip


def test_the_metrics_page_counts_what_the_requests_did(conn, fake, mitm):
    fake.script([
        Reply(text="plain answer", usage=Usage(120, 30, cached=20)),
        Reply(status=429),
        Reply(text="from the backup", usage=Usage(50, 9)),
        Reply(text="streamed answer", usage=Usage(200, 40)),
    ])  # fmt: skip
    assert call(conn, "openai-chat", "priced", stream=False).text == "plain answer"
    assert call(conn, "anthropic", "fallback", stream=False).text == "from the backup"
    assert call(conn, "gemini", "priced", stream=True).text == "streamed answer"
    rows = usage_rows(mitm, 3)
    found = scrape(mitm)

    requests = {(dict(k)["client"], dict(k)["route"], dict(k)["provider"], dict(k)["outcome"]): v
                for (n, k), v in found.items() if n == "omniroute_requests_total"}  # fmt: skip
    assert requests == {
        ("openai-chat", f"fake-anthropic/{PRICED}", "fake-anthropic", "ok"): 1,
        ("anthropic", "fallback", "fake-anthropic", "ok"): 1,
        ("gemini", f"fake-anthropic/{PRICED}", "fake-anthropic", "ok"): 1,
    }
    # the tokens of each class are the usage store's
    for name, column in TOKEN_COLUMNS.items():
        assert total(found, "omniroute_tokens_total", **{"class": name}) == sum(
            r[column] for r in rows), name
    assert total(found, "omniroute_tokens_total", **{"class": "cache_read"}) == 20
    assert total(found, "omniroute_tokens_total", **{"class": "output"}) == 30 + 9 + 40
    assert total(found, "omniroute_cost_usd_total") == pytest.approx(sum(r["cost"] for r in rows))
    # the 429: one fallback, and the primary's key cooling down
    assert found[("omniroute_fallbacks_total", frozenset({
        "from_provider": "fake-openai-chat", "to_provider": "fake-anthropic",
        "class": "rate_limited"}.items()))] == 1  # fmt: skip
    primary = {"target": "fake-openai-chat/primary", "key": "fake-openai-chat#1"}
    assert 200 < found[("omniroute_cooldown_seconds", frozenset(primary.items()))] <= 300
    assert found[("omniroute_cooling_down",
                  frozenset({**primary, "reason": "rate_limited"}.items()))] == 1  # fmt: skip
    # one stream: one time to first token; three request durations
    assert total(found, "omniroute_time_to_first_token_seconds_count") == 1
    durations = "omniroute_request_duration_seconds_count"
    assert (total(found, durations, stream="true"), total(found, durations, stream="false")) == (
        1, 2)
    assert total(found, "omniroute_in_flight_streams") == 0
    assert total(found, "omniroute_breaker_state", target="fake-openai-chat/primary") == 0
    assert total(found, "omniroute_errors_total") == 0


def test_a_continued_stream_is_counted_on_the_provider_that_continued(
    fake, tmp_path, ca_dir, e2e_provider
):
    combos = {"cont": {"targets": ["fake-gemini/cont-primary", "fake-anthropic/cont-backup"]}}
    config = e2e_config(e2e_provider.port, extra_combos=combos,
                        extra_routes=[{"match": {"model": "cont"}, "to": "cont"}])  # fmt: skip
    proc = start_mitmdump(tmp_path, ca_dir, config)  # its own: counters at zero
    words = " ".join(f"w{i}" for i in range(1, 25))
    fake.script([Reply(text=words, drop_mid_stream=True), Reply(text=words)])
    try:
        with Conn(proxy=proc.url, verify=client_ssl_context(proc.confdir),
                  api_key=CLIENT_KEY) as conn:  # fmt: skip
            assert call(conn, "openai-chat", "cont", stream=True).text == words
        usage_rows(proc, 1)
        found = scrape(proc)
    finally:
        proc.stop()
    assert found[("omniroute_continuations_total",
                  frozenset({"provider": "fake-gemini", "how": "continued"}.items()))] == 1
    assert total(found, "omniroute_requests_total", route="cont", outcome="ok") == 1
    assert total(found, "omniroute_fallbacks_total") == 0


def test_use_and_budget_per_proxy_user(fake, tmp_path, ca_dir, e2e_provider):
    """With proxyauth: the user's requests and cost, and its spend against its
    budget, on the metrics page the user reads through the proxy."""
    paid = {"paid": {"format": "openai-chat", "keys": ["pk-openai-chat-injected"],
                     "base_url": f"http://127.0.0.1:{e2e_provider.port}/v1",
                     "price": {"input": 100.0, "output": 100.0}}}  # fmt: skip
    config = e2e_config(e2e_provider.port, extra_providers=paid,
                        extra_routes=[{"match": {"model": "paid"}, "to": "paid/m"}])  # fmt: skip
    config["users"] = {"alice": {"group": "dev", "usd_per_day": 10}}
    config["groups"] = {"dev": {"usd_per_month": 50}}
    proc = start_mitmdump(tmp_path, ca_dir, config, "--set", "proxyauth=alice:alice-pw")
    proxy = f"http://alice:alice-pw@127.0.0.1:{proc.port}"
    fake.script([Reply(text="one", usage=Usage(1000, 500)),
                 Reply(text="two", usage=Usage(300, 200))])
    try:
        with Conn(proxy=proxy, verify=client_ssl_context(proc.confdir),
                  api_key=CLIENT_KEY) as conn:  # fmt: skip
            assert call(conn, "anthropic", "paid", stream=True).text == "one"
            assert call(conn, "openai-chat", "paid", stream=False).text == "two"
        rows = usage_rows(proc, 2)
        with httpx.Client(proxy=proxy, trust_env=False, timeout=10) as client:
            page = client.get("http://omniroute/metrics")
    finally:
        proc.stop()
    found = {(s.name, frozenset(s.labels.items())): s.value
             for family in text_string_to_metric_families(page.text)
             for s in family.samples}  # fmt: skip
    cost = sum(r["cost"] for r in rows)
    assert cost == pytest.approx(2000 * 100 / 1e6)
    assert total(found, "omniroute_user_requests_total", user="alice", group="dev") == 2
    assert total(found, "omniroute_user_cost_usd_total", user="alice") == pytest.approx(cost)
    assert total(found, "omniroute_budget_spent_usd", scope="user", name="alice",
                 window="day") == pytest.approx(cost)  # fmt: skip
    assert total(found, "omniroute_budget_usd", scope="user", name="alice", window="day") == 10
    assert total(found, "omniroute_budget_spent_usd", scope="group", name="dev",
                 window="month") == pytest.approx(cost)  # fmt: skip
    assert total(found, "omniroute_budget_usd", scope="group", name="dev", window="month") == 50
