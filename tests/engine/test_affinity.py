"""Which conversation a request belongs to, from what each client sends."""

from __future__ import annotations

import json

from omniroute_mitm.engine.route.affinity import conversation_id

SESSION = "4b1e3c2a-9f7d-4c1b-8e2f-0a1b2c3d4e5f"


def test_claude_code_user_id_with_a_session_part():
    old = {"metadata": {"user_id": f"user_abc123_account_def456_session_{SESSION}"}}
    new = {"metadata": {"user_id": json.dumps({"device_id": "d", "session_id": SESSION})}}
    ids = {conversation_id("anthropic", [], body | {"messages": []}) for body in (old, new)}
    assert len(ids) == 1 and ids.pop().startswith("s:")


def test_codex_session_header_and_prompt_cache_key():
    by_header = conversation_id("openai-responses", [("session_id", SESSION)], {"input": []})
    by_key = conversation_id("openai-responses", [], {"prompt_cache_key": SESSION})
    assert by_header == by_key and by_header.startswith("s:")


def test_gemini_cli_prompt_ids_of_one_session_are_one_conversation():
    first = conversation_id("gemini", [], {"user_prompt_id": f"{SESSION}########1"})
    later = conversation_id("gemini", [], {"user_prompt_id": f"{SESSION}########7"})
    assert first == later and first.startswith("s:")


def test_without_ids_the_system_prompt_and_first_turn_name_the_conversation():
    turn1 = {"system": "be brief", "messages": [{"role": "user", "content": "hi"}]}
    turn5 = {
        "system": "be brief",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "more"},
        ],
    }
    other = {"system": "be brief", "messages": [{"role": "user", "content": "bye"}]}
    assert conversation_id("anthropic", [], turn1) == conversation_id("anthropic", [], turn5)
    assert conversation_id("anthropic", [], turn1) != conversation_id("anthropic", [], other)
    assert conversation_id("anthropic", [], turn1).startswith("h:")
