"""Codex CLI's remote compaction, emulated for an Anthropic-format provider.

Codex (0.169) compacts a long session remotely when its provider is OpenAI:
it sends a normal streamed ``/v1/responses`` request whose last input item is
``{"type": "compaction_trigger"}`` and wants back exactly one ``compaction``
output item; later requests carry that item (its ``encrypted_content``) in
place of the history. Here the threshold is lowered in config.toml
(``model_auto_compact_token_limit``) and the provider reports a large input,
so the first tool call triggers a compaction in the middle of the turn; the
turn then continues on the compacted history, and so does the next turn
(``codex exec resume --last``).
"""

from __future__ import annotations

import json

import pytest
from cli_harness import (
    CLIENT_KEY,
    FINAL_TEXT,
    PROOF_TEXT,
    TOOL_OUTPUT,
    client_requests,
    env_line,
    proxy_env,
    run_cli,
)
from fakeprovider import Reply, ToolCall, Usage
from omniroute_mitm.translators.canonical import unwrap_meta

pytestmark = pytest.mark.cli

PROMPT = "Write the proof file with one shell command, then say you are done."
AGAIN = "Still done."
SUMMARY = "Handoff: the proof file was written with one shell command; say you are done."
CONFIG = """\
model_auto_compact_token_limit = 5000
check_for_update_on_startup = false
[analytics]
enabled = false
[features]
plugins = false
apps = false
"""


def test_codex_compacts_through_an_anthropic_provider_and_continues(
    cli_bin, proxy_to, fake, tmp_path
):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(CONFIG)
    proof = work / "proof.txt"
    cmd = f"printf {PROOF_TEXT} > {proof} && echo {TOOL_OUTPUT}"
    script = f"const r = await tools.exec_command({{cmd: {json.dumps(cmd)}}});\ntext(r.output);"
    fake.script([
        Reply(tool_calls=[ToolCall("exec", {"input": script}, id="toolu_01Compact")],
              usage=Usage(input=9000, output=50)),  # over the limit: compaction next
        Reply(text=SUMMARY),
        Reply(text=FINAL_TEXT),
        Reply(text=AGAIN),
    ])  # fmt: skip
    mitm = proxy_to("openai-responses", "anthropic")
    env = proxy_env(home, mitm) | env_line(mitm, "codex") | {"CODEX_API_KEY": CLIENT_KEY}
    argv = [str(cli_bin / "codex"), "exec", "--json", "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox", PROMPT]  # fmt: skip

    result = run_cli(argv, env, work)
    resumed = run_cli([*argv[:-1], "resume", "--last", "Are you still done?"], env, work)

    assert result.returncode == 0, result.describe()
    items = [e["item"] for e in result.json_lines() if e.get("type") == "item.completed"]
    assert [i["text"] for i in items if i["type"] == "agent_message"] == [FINAL_TEXT]
    assert proof.read_text() == PROOF_TEXT

    assert resumed.returncode == 0, resumed.describe()
    again = [e["item"] for e in resumed.json_lines() if e.get("type") == "item.completed"]
    assert [i["text"] for i in again if i["type"] == "agent_message"] == [AGAIN]

    requests = client_requests(mitm, calls=("/responses", 4))
    sent = [r.body for r in requests if r.method == "POST" and "/responses" in r.url]
    assert len(sent) == 4, result.describe()
    assert sent[1]["input"][-1] == {"type": "compaction_trigger"}
    (compaction,) = [i for i in sent[2]["input"] if i.get("type") == "compaction"]
    assert unwrap_meta(compaction["encrypted_content"]) == {"omniroute": {"compaction": SUMMARY}}

    calls = fake.model_calls()
    assert [c.format for c in calls] == ["anthropic"] * 4
    asked = calls[1].body
    assert asked["tool_choice"] == {"type": "none"}
    assert "handoff summary" in json.dumps(asked["messages"][-1])
    for call in calls[2:]:  # the rest of the turn, and the next turn
        later = json.dumps(call.body["messages"])
        assert SUMMARY in later  # the compacted history, as plain text
        assert TOOL_OUTPUT not in later and "toolu_01Compact" not in later
    assert "Are you still done?" in json.dumps(calls[3].body["messages"][-1])
