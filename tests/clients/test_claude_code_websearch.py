"""Claude Code's WebSearch tool routed to a plain chat provider: the engine
runs the search on a fake SearXNG (loopback) and Claude Code reads the
results as Anthropic's own search blocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import CLIENT_KEY, CliResult, env_line, proxy_env, run_cli
from e2e_harness import Mitmdump
from fakeprovider import Reply, ToolCall
from fakeweb import FakeWeb, Hit

pytestmark = pytest.mark.cli

PROMPT = "Search the web for the Rust 2024 edition release, then tell me when it shipped."
QUERY = "rust 2024 edition release"
HIT = Hit("https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html", "Announcing Rust 1.85.0",
          "Rust 1.85.0 stabilises the 2024 edition.")  # fmt: skip
FOUND = "Rust 1.85.0 (February 2025) shipped the 2024 edition."
FINAL = "The Rust 2024 edition shipped with Rust 1.85.0 in February 2025."


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    with FakeWeb() as server:
        server.results[QUERY] = [HIT]
        yield server


def run_claude(cli_bin: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "work").mkdir()
    env = (
        proxy_env(home, mitm)
        | env_line(mitm, "claude")
        | {
            "ANTHROPIC_API_KEY": CLIENT_KEY,
            "DISABLE_AUTOUPDATER": "1",
        }
    )
    argv = [str(cli_bin / "claude"), "-p", PROMPT, "--output-format", "stream-json",
            "--verbose", "--allowedTools", "WebSearch"]  # fmt: skip
    return run_cli(argv, env, tmp_path / "work")


def test_claude_code_websearch_on_a_chat_provider(cli_bin, proxy_to, fake, side, web, tmp_path):
    fake.script([
        Reply(tool_calls=[ToolCall("WebSearch", {"query": QUERY}, id="call_websearch_01")]),
        Reply(tool_calls=[ToolCall("web_search", {"query": QUERY}, id="call_search_01")]),
        Reply(text=FOUND),
        Reply(text=FINAL),
    ])  # fmt: skip
    side.default = Reply(text='{"title": "Rust 2024 edition"}')
    mitm = proxy_to("anthropic", "openai-chat", side_models="claude-haiku-*",
                    extra={"web_search": {"backend": "searxng", "url": web.url}})  # fmt: skip

    result = run_claude(cli_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    lines = list(result.json_lines())
    final = [line for line in lines if line.get("type") == "result"]
    assert final and final[-1]["subtype"] == "success", result.describe()
    assert final[-1]["result"] == FINAL
    # the transcript: WebSearch's result holds the search's links and what the model found
    (searched,) = [line["tool_use_result"] for line in lines if line.get("tool_use_result")]
    assert searched["searchCount"] == 1, searched
    links = [r for r in searched["results"] if isinstance(r, dict)]
    assert links[0]["content"] == [{"title": HIT.title, "url": HIT.url}]
    assert FOUND in searched["results"]
    used = final[-1]["modelUsage"]
    assert sum(m["webSearchRequests"] for m in used.values()) == 1, used

    assert [q for q, _ in web.hits] == ["/search?q=rust+2024+edition+release&format=json"]
    calls = fake.model_calls()
    assert len(calls) == 4 and not any(c.carries(CLIENT_KEY) for c in calls)
    sub, again = calls[1].body, calls[2].body  # WebSearch's own request, round two
    assert [t["function"]["name"] for t in sub["tools"]] == ["web_search"]
    (told,) = [m["content"] for m in again["messages"] if m.get("role") == "tool"]
    assert HIT.url in told and HIT.snippet in told
