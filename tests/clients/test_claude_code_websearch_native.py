"""Claude Code's WebSearch tool routed to a Responses provider: the provider
runs its own ``web_search`` tool (the fake answers as OpenAI does: a
``web_search_call`` item, then text with ``url_citation`` annotations) and
Claude Code reads it as Anthropic's own search blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import CLIENT_KEY, CliResult, env_line, proxy_env, run_cli
from e2e_harness import Mitmdump
from fakeprovider import Reply, ToolCall, websearch

pytestmark = pytest.mark.cli

PROMPT = "Search the web for the weather in Paris, then tell me."
QUERY = "paris weather today"
FOUND = "Paris: sunny, 21 C, light wind from the west."
FINAL = "It is sunny in Paris today, 21 C."


def run_claude(cli_bin: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "work").mkdir()
    env = proxy_env(home, mitm) | env_line(mitm, "claude") | {
        "ANTHROPIC_API_KEY": CLIENT_KEY, "DISABLE_AUTOUPDATER": "1",
    }  # fmt: skip
    argv = [str(cli_bin / "claude"), "-p", PROMPT, "--output-format", "stream-json",
            "--verbose", "--allowedTools", "WebSearch"]  # fmt: skip
    return run_cli(argv, env, tmp_path / "work")


def test_claude_code_websearch_on_a_responses_provider(cli_bin, proxy_to, fake, side, tmp_path):
    fake.script([
        Reply(tool_calls=[ToolCall("WebSearch", {"query": QUERY}, id="call_websearch_01")]),
        Reply(text=FOUND),
        Reply(text=FINAL),
    ])  # fmt: skip
    side.default = Reply(text='{"title": "Paris weather"}')
    mitm = proxy_to("anthropic", "openai-responses", side_models="claude-haiku-*")

    result = run_claude(cli_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    lines = list(result.json_lines())
    final = [line for line in lines if line.get("type") == "result"]
    assert final and final[-1]["subtype"] == "success", result.describe()
    assert final[-1]["result"] == FINAL
    calls = fake.model_calls()
    assert len(calls) == 3 and not any(c.carries(CLIENT_KEY) for c in calls)
    # WebSearch's own request reached OpenAI with OpenAI's search tool
    sub = calls[1].body
    assert [t["type"] for t in sub["tools"]] == ["web_search"], sub["tools"]
    # the transcript: WebSearch's result holds the provider's links and what the model found
    (searched,) = [line["tool_use_result"] for line in lines if line.get("tool_use_result")]
    assert searched["searchCount"] == 1, searched
    assert searched["query"] == QUERY
    links = [r for r in searched["results"] if isinstance(r, dict)]
    # Responses lists its sources by URL only: the URL stands for the title
    urls = [u for u, _, _ in websearch.RESULTS]
    assert links[0]["content"] == [{"title": u, "url": u} for u in urls], searched
    assert any(isinstance(r, str) and FOUND in r for r in searched["results"]), searched
    used = final[-1]["modelUsage"]
    assert sum(m["webSearchRequests"] for m in used.values()) == 1, used
