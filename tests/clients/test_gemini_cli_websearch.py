"""Gemini CLI's google_web_search routed to a plain chat provider: the engine
runs the search on a fake SearXNG (loopback) and Gemini CLI reads the
results as Gemini's groundingMetadata (its sources list).

With an API key only: logged in with Google (Code Assist), Gemini CLI 0.61
sends its search request with no tool at all (the service grounds it
itself), so nothing in it asks for a search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import CLIENT_KEY, CliResult, env_line, proxy_env, run_cli
from e2e_harness import Mitmdump
from fakeprovider import Reply, ToolCall
from fakeweb import FakeWeb, Hit
from test_gemini_cli import CLASSIFIER_JSON, SETTINGS

pytestmark = pytest.mark.cli

PROMPT = "Search the web: when did the Rust 2024 edition ship?"
QUERY = "rust 2024 edition release"
HIT = Hit("https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html", "Announcing Rust 1.85.0",
          "Rust 1.85.0 stabilises the 2024 edition.")  # fmt: skip
FOUND = "Rust 1.85.0 shipped the 2024 edition in February 2025."
FINAL = "It shipped with Rust 1.85.0 in February 2025."


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    with FakeWeb() as server:
        server.results[QUERY] = [HIT]
        yield server


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


def test_gemini_cli_google_web_search_on_a_chat_provider(
    cli_bin, proxy_to, fake, side, web, tmp_path
):
    fake.script([
        Reply(tool_calls=[ToolCall("google_web_search", {"query": QUERY}, id="call_gsearch")]),
        Reply(tool_calls=[ToolCall("web_search", {"query": QUERY}, id="call_engine_search")]),
        Reply(text=FOUND),
        Reply(text=FINAL),
    ])  # fmt: skip
    side.default = Reply(text=CLASSIFIER_JSON["api_key"])
    mitm = proxy_to("gemini", "openai-chat", side_models="*flash-lite*",
                    extra={"web_search": {"backend": "searxng", "url": web.url}})  # fmt: skip

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

    assert [q for q, _ in web.hits] == ["/search?q=rust+2024+edition+release&format=json"]
    calls = fake.model_calls()
    assert len(calls) == 4 and not any(c.carries(CLIENT_KEY) for c in calls)
    assert [t["function"]["name"] for t in calls[1].body["tools"]] == ["web_search"]
    # what Gemini CLI made of the grounding: the answer, then its sources list
    (told,) = [m["content"] for m in calls[3].body["messages"] if m.get("role") == "tool"]
    assert FOUND in told
    assert f"[1] {HIT.title} ({HIT.url})" in told
