"""Claude Code (``claude -p``) through the proxy, its Anthropic calls served by
an openai-chat and by a gemini provider: a Bash tool round trip, with and
without reasoning coming back from the provider.

Claude Code runs as a user would start it (no CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC):
its side calls to api.anthropic.com/api/... are answered by the front
(omniroute_offline_clients), and its session-title call (a haiku model with
structured output) goes to a side provider so it cannot take a scripted reply.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import (
    CLIENT_KEY,
    FINAL_TEXT,
    PROOF_TEXT,
    TOOL_OUTPUT,
    CliResult,
    client_requests,
    env_line,
    proxy_env,
    reasoning_params,
    run_cli,
    tool_exchanges,
    tool_names,
)
from e2e_harness import Mitmdump, provider_key
from fakeprovider import Reply, ToolCall
from omniroute_mitm.engine.route.affinity import conversation_id
from omniroute_mitm.translators.canonical import effort_to_budget

pytestmark = pytest.mark.cli

PROMPT = "Write the proof file with the Bash tool, then say you are done."
REASONING = "The user wants a file: I will run one shell command."
TITLE_JSON = '{"title": "Write the proof file"}'
CALL_IDS = {"openai-chat": "call_cli_bash_0001", "gemini": None}  # Gemini's API sends no ids
GEMINI_SIGNATURE = "c2lnLWdlbWluaS1jbGk="


def run_claude(cli_bin: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    home.mkdir()
    env = proxy_env(home, mitm) | env_line(mitm, "claude") | {
        "ANTHROPIC_API_KEY": CLIENT_KEY,
        "DISABLE_AUTOUPDATER": "1",
    }
    argv = [
        str(cli_bin / "claude"),
        "-p",
        PROMPT,
        "--output-format",
        "stream-json",
        "--verbose",
        "--allowedTools",
        "Bash",
    ]
    return run_cli(argv, env, tmp_path / "work")


@pytest.mark.parametrize("reasoning", [False, True], ids=["plain", "reasoning"])
@pytest.mark.parametrize("target", ["openai-chat", "gemini"])
def test_claude_code_bash_round_trip(cli_bin, proxy_to, fake, side, tmp_path, target, reasoning):
    work = tmp_path / "work"
    work.mkdir()
    proof = work / "proof.txt"
    args = {
        "command": f"printf {PROOF_TEXT} > {proof} && echo {TOOL_OUTPUT}",
        "description": "Write the proof file",
    }
    first = Reply(tool_calls=[ToolCall("Bash", args, id=CALL_IDS[target])])
    if reasoning:
        first.reasoning = REASONING
        first.signature = GEMINI_SIGNATURE if target == "gemini" else None
    fake.script([first, Reply(text=FINAL_TEXT)])
    side.default = Reply(text=TITLE_JSON)
    mitm = proxy_to("anthropic", target, side_models="claude-haiku-*")

    result = run_claude(cli_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    lines = list(result.json_lines())
    final = [line for line in lines if line.get("type") == "result"]
    assert final and final[-1]["subtype"] == "success", result.describe()
    assert final[-1]["result"] == FINAL_TEXT
    assert proof.exists(), result.describe()
    assert proof.read_text() == PROOF_TEXT

    calls = fake.model_calls()
    assert [c.format for c in calls] == [target, target], [c.path for c in calls]
    assert all(c.api_key == provider_key(target) and not c.carries(CLIENT_KEY) for c in calls)
    assert "Bash" in tool_names(target, calls[0].body)
    # Claude Code's role: "system" message (deferred tools) reaches the provider
    assert "deferred tools are now available" in calls[0].raw.decode()
    (exchange,) = tool_exchanges(target, calls[1].body)
    assert (exchange.name, exchange.arguments) == ("Bash", args)
    if target == "gemini":
        assert exchange.result_name == "Bash"
    else:
        assert exchange.call_id == exchange.result_id == CALL_IDS[target]
    assert TOOL_OUTPUT in exchange.result

    requests = client_requests(mitm, until=lambda flows: len(main_turns(flows)) >= 2)
    # side calls answered by the proxy (omniroute_offline_clients), as Anthropic would
    side_calls = {r.url.partition("?")[0]: r.status for r in requests if "/api/" in r.url}
    api = "https://api.anthropic.com/api/claude_code"
    assert side_calls[f"{api}/settings"] == side_calls[f"{api}/policy_limits"] == 404
    assert side_calls[f"{api}/organizations/metrics_enabled"] == 200
    sent = main_turns(requests)
    assert len(sent) == 2, [r.url for r in client_requests(mitm)]
    # both turns name one session (metadata.user_id): session affinity keeps them together
    ids = {conversation_id("anthropic", list(r.headers.items()), r.body) for r in sent}
    assert len(ids) == 1 and ids.pop().startswith("s:"), [r.body.get("metadata") for r in sent]
    assert sent[0].body["thinking"] == {"type": "adaptive"}
    effort = sent[0].body["output_config"]["effort"]
    wanted = reasoning_params(target, calls[0].body)
    if target == "openai-chat":
        assert wanted == effort
    else:  # adaptive with an effort: the effort's budget, thoughts included
        budget = effort_to_budget(effort)
        assert wanted == {"thinkingBudget": budget, "includeThoughts": True}

    if reasoning:
        blocks = [
            b
            for line in lines
            if line.get("type") == "assistant"
            for b in line["message"]["content"]
        ]
        thinking = [b["thinking"] for b in blocks if b["type"] == "thinking" and b["thinking"]]
        assert thinking == [REASONING], blocks
        assert_reasoning_replayed(target, calls[1].body)

    assert_title_call(target, side)


def assert_reasoning_replayed(target: str, body: dict) -> None:
    """The provider gets its own reasoning back on the next turn."""
    if target == "openai-chat":  # the DeepSeek / vLLM convention
        (turn,) = [m for m in body["messages"] if m["role"] == "assistant"]
        assert turn["reasoning_content"] == REASONING
    else:
        (turn,) = [c for c in body["contents"] if c["role"] == "model"]
        signed = [p for p in turn["parts"] if "functionCall" in p]
        assert [p.get("thoughtSignature") for p in signed] == [GEMINI_SIGNATURE], turn


def assert_title_call(target: str, side) -> None:
    """The session-title call keeps its structured output (a JSON schema)."""
    calls = side.model_calls()
    assert calls and all(c.format == target for c in calls)
    body = calls[0].body
    if target == "openai-chat":
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema"
        schema = fmt["json_schema"]["schema"]
    else:
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        schema = config.get("responseJsonSchema") or config["responseSchema"]
    assert schema["required"] == ["title"]


def main_turns(requests: list) -> list:
    """Claude Code's model calls of the session (not its haiku side calls)."""
    return [
        r
        for r in requests
        if "/v1/messages" in r.url
        and r.method == "POST"
        and not r.body["model"].startswith("claude-haiku")
    ]
