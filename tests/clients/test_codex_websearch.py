"""Codex CLI with live web search (``--search``: the Responses ``web_search``
tool) routed to a plain chat provider: the engine runs the search on a fake
SearXNG (loopback) and Codex reads its ``web_search_call`` item."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import CLIENT_KEY, CliResult, env_line, proxy_env, run_cli
from e2e_harness import Mitmdump
from fakeprovider import Reply, ToolCall
from fakeweb import FakeWeb, Hit
from test_codex import SSE_CONFIG

pytestmark = pytest.mark.cli

PROMPT = "Search the web: when did the Rust 2024 edition ship?"
QUERY = "rust 2024 edition release"
HIT = Hit("https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html", "Announcing Rust 1.85.0",
          "Rust 1.85.0 stabilises the 2024 edition.")  # fmt: skip
FINAL = "It shipped with Rust 1.85.0 in February 2025."


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    with FakeWeb() as server:
        server.results[QUERY] = [HIT]
        yield server


def run_codex(cli_bin: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(SSE_CONFIG)
    (tmp_path / "work").mkdir()
    env = proxy_env(home, mitm) | env_line(mitm, "codex") | {"OPENAI_API_KEY": CLIENT_KEY}
    argv = [str(cli_bin / "codex"), "--search", "exec", "--json", "--skip-git-repo-check",
            "-m", "gpt-5.5", PROMPT]  # fmt: skip
    return run_cli(argv, env, tmp_path / "work")


def test_codex_web_search_on_a_chat_provider(cli_bin, proxy_to, fake, web, tmp_path):
    fake.script([
        Reply(tool_calls=[ToolCall("web_search", {"query": QUERY}, id="call_codex_search")]),
        Reply(text=FINAL),
    ])  # fmt: skip
    mitm = proxy_to("openai-responses", "openai-chat",
                    extra={"web_search": {"backend": "searxng", "url": web.url}})  # fmt: skip

    result = run_codex(cli_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    events = list(result.json_lines())
    done = [e["item"] for e in events if e.get("type") == "item.completed"]
    searches = [item for item in done if item["type"] == "web_search"]
    assert [s["action"] for s in searches] == [{"type": "search", "query": QUERY}], events
    assert done[-1] == {"id": done[-1]["id"], "type": "agent_message", "text": FINAL}

    assert [q for q, _ in web.hits] == ["/search?q=rust+2024+edition+release&format=json"]
    first, second = (c.body for c in fake.model_calls())
    assert "web_search" in {t["function"]["name"] for t in first["tools"]}
    (told,) = [m["content"] for m in second["messages"] if m.get("role") == "tool"]
    assert HIT.url in told and HIT.snippet in told
    assert not any(c.carries(CLIENT_KEY) for c in fake.model_calls())
