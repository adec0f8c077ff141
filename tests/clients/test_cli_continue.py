"""The real CLIs finish a tool-loop turn whose first stream broke mid-answer.

Claude Code, Codex and Gemini CLI each ask for a turn the model answers with
some text and a shell call; the fake provider cuts that stream once inside
the text, once inside the call's arguments. The engine continues it on the
same target (a model that goes on exactly: ``Reply.continues``), and the CLI
goes on as if nothing happened: it shows the text once, runs the command
once, sends the result back and ends with the final answer.

Targets: Claude Code on an Anthropic provider (passed through, continued as a
prefill), Codex on a Chat provider and Gemini CLI on an Anthropic one
(translated, continued by instruction and as a prefill).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import CLIENT_KEY, FINAL_TEXT, CliResult, env_line, proxy_env, run_cli
from e2e_harness import Mitmdump
from fakeprovider import Reply, ToolCall, frames
from fakeprovider.upstream import last_assistant_text
from test_codex import SSE_CONFIG
from test_gemini_cli import CLASSIFIER_JSON, SETTINGS

pytestmark = pytest.mark.cli

PROMPT = "Append one line to the proof file with one shell command, then say you are done."
LEAD = ("I will append the line with a single shell command, then check that it is "
        "there before I say that the work is done.")  # fmt: skip
LINE = "continued-ok"
TITLE_JSON = '{"title": "Append the proof line"}'

# client -> (target format, the shell tool's name and its argument)
SETUPS = {
    "claude": ("anthropic", "Bash", "command"),
    "codex": ("openai-chat", "exec_command", "cmd"),
    "gemini": ("anthropic", "run_shell_command", "command"),
}


def cut_at(fmt: str, reply: Reply, where: str) -> int:
    """The frame the break comes at: inside the text (its twelfth word not
    yet sent) or inside the call's arguments (their first piece sent)."""
    marker, after = (b" that", 0) if where == "text" else (b'{\\"', 1)
    found = [i for i, frame in enumerate(frames(fmt, reply)) if marker in frame]
    assert found, (fmt, marker)
    return found[0] + after


def run(client: str, cli_bin: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    home.mkdir()
    env = proxy_env(home, mitm) | env_line(mitm, client)
    if client == "claude":
        env |= {"ANTHROPIC_API_KEY": CLIENT_KEY, "DISABLE_AUTOUPDATER": "1"}
        argv = [str(cli_bin / "claude"), "-p", PROMPT, "--output-format", "stream-json",
                "--verbose", "--allowedTools", "Bash"]  # fmt: skip
    elif client == "codex":
        (home / ".codex").mkdir()
        (home / ".codex" / "config.toml").write_text(SSE_CONFIG)
        env["OPENAI_API_KEY"] = CLIENT_KEY
        argv = [str(cli_bin / "codex"), "exec", "--json", "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox", "-m", "gpt-5.5", PROMPT]  # fmt: skip
    else:
        (home / ".gemini").mkdir()
        (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
        env |= {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_API_KEY": CLIENT_KEY}
        argv = [str(cli_bin / "gemini"), "-p", PROMPT, "--yolo", "--output-format", "stream-json"]
    return run_cli(argv, env, tmp_path / "work")


def shown(client: str, result: CliResult) -> tuple[str, str]:
    """The text the CLI showed for the model's turns: (all of it, the final answer)."""
    events = list(result.json_lines())
    if client == "claude":
        texts = [b["text"] for e in events if e.get("type") == "assistant"
                 for b in e["message"]["content"] if b["type"] == "text"]  # fmt: skip
        final = [e["result"] for e in events if e.get("type") == "result"]
    elif client == "codex":
        items = [e["item"] for e in events if e.get("type") == "item.completed"]
        texts = [i["text"] for i in items if i["type"] == "agent_message"]
        final = texts[-1:]
    else:
        texts = [e["content"] for e in events
                 if e.get("type") == "message" and e.get("role") == "assistant"]  # fmt: skip
        final = [FINAL_TEXT] if "".join(texts).endswith(FINAL_TEXT) else []
    return "".join(texts), final[-1] if final else ""


@pytest.mark.parametrize("where", ["text", "arguments"])
@pytest.mark.parametrize("client", list(SETUPS))
def test_a_cli_finishes_the_turn_whose_stream_broke(
    cli_bin, proxy_to, fake, side, tmp_path, client, where
):
    target, tool, arg = SETUPS[client]
    work = tmp_path / "work"
    work.mkdir()
    proof = work / "proof.txt"
    shell = ToolCall(tool, {arg: f"echo {LINE} >> {proof}"}, id=f"call_cont_{client}")
    first = Reply(text=LEAD, tool_calls=[shell], drop_mid_stream=True)
    first.cut_at = cut_at(target, first, where)
    rest = Reply(text=LEAD, tool_calls=[shell], continues=True)
    fake.script([first, rest, Reply(text=FINAL_TEXT)])
    side.default = Reply(text=TITLE_JSON if client == "claude" else CLASSIFIER_JSON["api_key"])
    client_format = {"claude": "anthropic", "codex": "openai-responses", "gemini": "gemini"}
    side_models = {"claude": "claude-haiku-*", "codex": None, "gemini": "*flash-lite*"}
    mitm = proxy_to(client_format[client], target, side_models=side_models[client])

    result = run(client, cli_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    text, final = shown(client, result)
    assert final == FINAL_TEXT, result.describe()
    assert text.count(LEAD) == 1 and text.replace(LEAD, "") in ("", FINAL_TEXT), text
    assert proof.read_text() == f"{LINE}\n", result.describe()  # the command ran once

    calls = fake.model_calls()
    assert len(calls) == 3, [c.path for c in calls]
    assert calls[0].dropped and calls[1].completed
    # the turn the CLI sends back is the answer once: the text whole, the call whole
    assert last_assistant_text(target, calls[2].body) == LEAD
    assert LINE in calls[2].raw.decode()
    line = next((x for x in mitm.lines if "continued on fake-" in x), None)
    assert line is not None, "\n".join(mitm.lines[-20:])
