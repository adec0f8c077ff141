"""Quota headers of each provider reduced to the most used window."""

from __future__ import annotations

import pytest
from omniroute_mitm.engine.core.quota import parse

NOW = 1_800_000_000.0


def test_anthropic_subscription_unified_windows():
    q = parse(
        [
            ("anthropic-ratelimit-unified-5h-utilization", "0.42"),
            ("anthropic-ratelimit-unified-5h-reset", str(int(NOW) + 3600)),
            ("anthropic-ratelimit-unified-7d-utilization", "0.97"),
            ("anthropic-ratelimit-unified-7d-reset", str(int(NOW) + 86400)),
            ("anthropic-ratelimit-unified-status", "allowed_warning"),
        ],
        NOW,
    )
    assert q is not None and q.window == "unified-7d" and q.utilization == 0.97
    assert q.over(0.95, NOW) and not q.over(0.95, NOW + 86401)  # the window resets


def test_a_rejected_window_is_over_whatever_its_utilization():
    q = parse(
        [
            ("anthropic-ratelimit-unified-5h-utilization", "0.5"),
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-reset", str(int(NOW) + 60)),
        ],
        NOW,
    )
    assert q is not None and q.rejected and q.over(0.95, NOW) and q.reset == NOW + 60


def test_anthropic_api_key_limits():
    q = parse(
        [
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-tokens-limit", "100000"),
            ("anthropic-ratelimit-tokens-remaining", "3000"),
            ("anthropic-ratelimit-tokens-reset", "2027-01-15T08:01:00Z"),
        ],
        NOW,
    )
    assert q is not None and q.window == "tokens"
    assert q.utilization == pytest.approx(0.97) and q.reset == NOW + 60


def test_openai_limits_and_reset_durations():
    q = parse(
        [
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-limit-tokens", "200000"),
            ("x-ratelimit-remaining-tokens", "20000"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ],
        NOW,
    )
    assert q is not None and q.window == "tokens"
    assert q.utilization == pytest.approx(0.9) and q.reset == NOW + 360


def test_codex_used_percent_headers():
    q = parse(
        [
            ("x-codex-primary-used-percent", "96.5"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-after-seconds", "1200"),
            ("x-codex-secondary-used-percent", "13"),
            ("x-codex-secondary-reset-at", str(int(NOW) + 86400)),
        ],
        NOW,
    )
    assert q is not None and q.window == "codex-primary"
    assert q.utilization == pytest.approx(0.965) and q.reset == NOW + 1200


def test_no_rate_limit_headers_is_no_quota():
    assert parse([("content-type", "application/json")], NOW) is None
