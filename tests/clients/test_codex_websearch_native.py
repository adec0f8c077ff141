"""Codex CLI with live web search (``--search``) routed to an Anthropic
provider: the provider runs its own ``web_search`` server tool (the fake
answers as Anthropic does: ``server_tool_use``, ``web_search_tool_result``,
text with citations) and Codex shows the search and the cited answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import CLIENT_KEY, CliResult, env_line, proxy_env, run_cli
from e2e_harness import Mitmdump
from fakeprovider import Reply, websearch
from test_codex import SSE_CONFIG

pytestmark = pytest.mark.cli

PROMPT = "Search the web: what is the weather in Paris?"
FINAL = "Paris is sunny today, 21 C."


def run_codex(cli_bin: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(SSE_CONFIG)
    (tmp_path / "work").mkdir()
    env = proxy_env(home, mitm) | env_line(mitm, "codex") | {"OPENAI_API_KEY": CLIENT_KEY}
    argv = [str(cli_bin / "codex"), "--search", "exec", "--json", "--skip-git-repo-check",
            "-m", "gpt-5.5", PROMPT]  # fmt: skip
    return run_cli(argv, env, tmp_path / "work")


def test_codex_web_search_on_an_anthropic_provider(cli_bin, proxy_to, fake, tmp_path):
    fake.script([Reply(text=FINAL)])
    mitm = proxy_to("openai-responses", "anthropic")

    result = run_codex(cli_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    events = list(result.json_lines())
    done = [e["item"] for e in events if e.get("type") == "item.completed"]
    (call,) = fake.model_calls()
    # the search tool reached Anthropic as its own server tool, and no key of the client
    tools = [t for t in call.body["tools"] if t.get("type", "").startswith("web_search_")]
    assert [t["name"] for t in tools] == ["web_search"], call.body["tools"]
    assert not call.carries(CLIENT_KEY)
    # the transcript: the provider's search (its query), then the answer
    searches = [item for item in done if item["type"] == "web_search"]
    query = websearch.query("anthropic", call.body)
    assert [s["action"] for s in searches] == [{"type": "search", "query": query}], events
    assert [item["type"] for item in done] == ["web_search", "agent_message"], events
    assert done[-1] == {"id": done[-1]["id"], "type": "agent_message", "text": FINAL}
    # Codex counts the turn's tokens from the translated usage
    (turn,) = [e for e in events if e.get("type") == "turn.completed"]
    assert turn["usage"]["output_tokens"] > 0
