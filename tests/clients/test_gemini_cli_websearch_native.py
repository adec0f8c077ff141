"""Gemini CLI's google_web_search routed to an Anthropic provider: the
provider runs its own ``web_search`` server tool (the fake answers as
Anthropic does) and Gemini CLI reads it as Gemini's groundingMetadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import CLIENT_KEY, CliResult, env_line, proxy_env, run_cli
from e2e_harness import Mitmdump
from fakeprovider import Reply, ToolCall, websearch
from test_gemini_cli import CLASSIFIER_JSON, SETTINGS

pytestmark = pytest.mark.cli

PROMPT = "Search the web: what is the weather in Paris?"
QUERY = "paris weather today"
FOUND = "Paris is sunny, 21 C."
FINAL = "It is sunny in Paris today, 21 C."


def run_gemini(cli_bin: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    (tmp_path / "work").mkdir()
    env = proxy_env(home, mitm) | env_line(mitm, "gemini") | {
        "GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_API_KEY": CLIENT_KEY,
    }  # fmt: skip
    argv = [str(cli_bin / "gemini"), "-p", PROMPT, "--yolo", "--output-format", "stream-json"]
    return run_cli(argv, env, tmp_path / "work")


def test_gemini_cli_google_web_search_on_an_anthropic_provider(
    cli_bin, proxy_to, fake, side, tmp_path
):
    fake.script([
        Reply(tool_calls=[ToolCall("google_web_search", {"query": QUERY}, id="call_gsearch")]),
        Reply(text=FOUND),
        Reply(text=FINAL),
    ])  # fmt: skip
    side.default = Reply(text=CLASSIFIER_JSON["api_key"])
    mitm = proxy_to("gemini", "anthropic", side_models="*flash-lite*")

    result = run_gemini(cli_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    events = list(result.json_lines())
    used = [e for e in events if e.get("type") == "tool_use"]
    assert [(e["tool_name"], e["parameters"]) for e in used] == [
        ("google_web_search", {"query": QUERY})
    ]  # fmt: skip
    (done,) = [e for e in events if e.get("type") == "tool_result"]
    assert done["status"] == "success", result.describe()
    text = "".join(e["content"] for e in events
                   if e.get("type") == "message" and e.get("role") == "assistant")  # fmt: skip
    assert text == FINAL, result.describe()

    calls = fake.model_calls()
    assert len(calls) == 3 and not any(c.carries(CLIENT_KEY) for c in calls)
    # the search request reached Anthropic with Anthropic's own server tool
    kinds = [t.get("type", "") for t in calls[1].body["tools"]]
    assert kinds == ["web_search_20250305"], calls[1].body["tools"]
    # what Gemini CLI made of the grounding: the cited answer, then its sources list
    (told,) = [
        b for m in calls[2].body["messages"] if isinstance(m["content"], list)
        for b in m["content"] if b.get("type") == "tool_result"
    ]  # fmt: skip
    told_text = json.dumps(told["content"])
    assert FOUND in told_text
    url, title, _ = websearch.RESULTS[0]
    assert f"[1] {title} ({url})" in told_text, told_text
