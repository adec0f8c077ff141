"""Session affinity through mitmdump with the official SDKs: one conversation
stays on one target of a round-robin combo, different conversations spread."""

from __future__ import annotations

from collections import Counter

import pytest
from e2e_harness import FORMATS, e2e_config
from fakeprovider import Reply
from fakeprovider.sdk import call

pytestmark = pytest.mark.e2e

SESSION = "user_0f1e2d_account_9a8b7c_session_6c1f4b2e-3d5a-4e7f-9b8c-1a2b3c4d5e6f"


def MITM_CONFIG(request) -> dict:  # noqa: N802 (the harness looks for this name)
    port = request.getfixturevalue("e2e_provider").port
    combos = {"ring": {"strategy": "round-robin",
                       "targets": [f"fake-{fmt}/model-{fmt}" for fmt in FORMATS]}}
    return e2e_config(port, None, combos, [{"match": {"model": "ring"}, "to": "ring"}])


def test_twenty_turns_of_one_claude_code_session_land_on_one_target(conn, fake):
    fake.default = Reply(text="ok")
    for turn in range(20):
        got = call(conn, "anthropic", "ring", stream=True, prompt=f"turn {turn}",
                   metadata={"user_id": SESSION})
        assert got.text == "ok"
    assert len({r.format for r in fake.model_calls()}) == 1


def test_twenty_conversations_spread_over_the_targets(conn, fake):
    fake.default = Reply(text="ok")
    for n in range(20):
        call(conn, "openai-chat", "ring", stream=True, prompt=f"conversation {n}")
    counts = Counter(r.format for r in fake.model_calls())
    assert sorted(counts) == sorted(FORMATS) and min(counts.values()) >= 4
