"""Codex CLI (``codex exec``) through the proxy, its Responses calls served by an
anthropic and by an openai-chat provider: a shell tool round trip, with the
client's default reasoning effort and with ``model_reasoning_effort=high``
(reasoning coming back from the provider).

Two setups, as users have them:
- the default (no config.toml, ``CODEX_API_KEY``): the built-in OpenAI provider
  tries a WebSocket first (the front answers 426), calls chatgpt.com for its
  model list and plugins (answered by omniroute_offline_clients) and, with its
  default model, sends the "responses-lite" body: the tools ride in an
  ``additional_tools`` input item and the shell is reached through ``exec``, a
  freeform (custom) tool taking JavaScript that calls ``tools.exec_command``;
- the SSE-only provider of CLIENTS.md in ``config.toml`` with ``-m gpt-5.5``:
  the classic body, with ``exec_command`` as a function tool.
"""

from __future__ import annotations

import json
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

PROMPT = "Write the proof file with one shell command, then say you are done."
REASONING = "One shell command writes the file."
SIGNATURE = "sig-codex-anthropic-0001"
CALL_IDS = {"anthropic": "toolu_01CodexCliExec", "openai-chat": "call_codex_cli_0001"}
SSE_CONFIG = """\
model_provider = "openai_sse"
check_for_update_on_startup = false
[model_providers.openai_sse]
name = "OpenAI (SSE only)"
base_url = "https://api.openai.com/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
supports_websockets = false
[analytics]
enabled = false
[features]
plugins = false
apps = false
"""


def run_codex(
    cli_bin: Path, mitm: Mitmdump, tmp_path: Path, setup: str, effort: str | None
) -> CliResult:
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    env = proxy_env(home, mitm) | env_line(mitm, "codex")
    argv = [str(cli_bin / "codex"), "exec", "--json", "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox"]  # fmt: skip
    if setup == "sse-config":
        (home / ".codex" / "config.toml").write_text(SSE_CONFIG)
        env["OPENAI_API_KEY"] = CLIENT_KEY
        argv += ["-m", "gpt-5.5"]
    else:
        env["CODEX_API_KEY"] = CLIENT_KEY
    if effort:
        argv += ["-c", f"model_reasoning_effort={effort}"]
    return run_cli([*argv, PROMPT], env, tmp_path / "work")


def shell_call(setup: str, target: str, proof: Path) -> tuple[ToolCall, str]:
    """The tool call a model would make to run the shell command, and the
    tool name Codex offers for it."""
    cmd = f"printf {PROOF_TEXT} > {proof} && echo {TOOL_OUTPUT}"
    if setup == "sse-config":
        return ToolCall("exec_command", {"cmd": cmd}, id=CALL_IDS[target]), "exec_command"
    # exec is freeform: Anthropic and chat providers see it as a function taking {input}
    script = f"const r = await tools.exec_command({{cmd: {json.dumps(cmd)}}});\ntext(r.output);"
    return ToolCall("exec", {"input": script}, id=CALL_IDS[target]), "exec"


CASES = [
    pytest.param("default", "anthropic", id="default-anthropic"),
    pytest.param("default", "openai-chat", id="default-openai_chat"),
    pytest.param("sse-config", "anthropic", id="sse_config-anthropic"),
    pytest.param("sse-config", "openai-chat", id="sse_config-openai_chat"),
]


@pytest.mark.parametrize("effort", [None, "high"], ids=["default_effort", "effort_high"])
@pytest.mark.parametrize(("setup", "target"), CASES)
def test_codex_shell_round_trip(cli_bin, proxy_to, fake, tmp_path, setup, target, effort):
    work = tmp_path / "work"
    work.mkdir()
    proof = work / "proof.txt"
    call, tool = shell_call(setup, target, proof)
    first = Reply(tool_calls=[call])
    if effort:
        first.reasoning = REASONING
        first.signature = SIGNATURE if target == "anthropic" else None
    fake.script([first, Reply(text=FINAL_TEXT)])
    mitm = proxy_to("openai-responses", target)

    result = run_codex(cli_bin, mitm, tmp_path, setup, effort)

    assert result.returncode == 0, result.describe()
    events = list(result.json_lines())
    items = [e["item"] for e in events if e.get("type") == "item.completed"]
    messages = [i["text"] for i in items if i["type"] == "agent_message"]
    assert messages == [FINAL_TEXT], result.describe()
    assert proof.exists(), result.describe()
    assert proof.read_text() == PROOF_TEXT

    calls = fake.model_calls()
    assert [c.format for c in calls] == [target, target], [c.path for c in calls]
    assert all(c.api_key == provider_key(target) and not c.carries(CLIENT_KEY) for c in calls)
    assert tool in tool_names(target, calls[0].body)
    (exchange,) = tool_exchanges(target, calls[1].body)
    assert (exchange.name, exchange.arguments) == (call.name, call.arguments)
    assert exchange.call_id == exchange.result_id == CALL_IDS[target]
    assert TOOL_OUTPUT in exchange.result

    requests = client_requests(mitm, calls=("/responses", 2))
    sent = [r for r in requests if r.method == "POST" and "/responses" in r.url]
    assert len(sent) == 2, [(r.method, r.url) for r in client_requests(mitm)]
    # both turns name one session (session_id header): session affinity keeps them together
    ids = {conversation_id("openai-responses", list(r.headers.items()), r.body) for r in sent}
    assert len(ids) == 1 and ids.pop().startswith("s:"), [
        ({k: v for k, v in r.headers.items() if "session" in k or "conversation" in k},
         r.body.get("prompt_cache_key")) for r in sent
    ]
    lite = sent[0].headers.get("x-openai-internal-codex-responses-lite") == "true"
    assert lite == (setup == "default")
    if setup == "default":
        assert_default_side_calls(client_requests(mitm))
    assert_reasoning_params(target, sent[0].body["reasoning"]["effort"], calls[0].body, effort)

    if effort:
        reasoning = [i["text"] for i in items if i["type"] == "reasoning"]
        assert reasoning == [REASONING], result.describe()
        assert_reasoning_replayed(target, calls[1].body)


def assert_reasoning_params(target: str, sent: str, body: dict, asked: str | None) -> None:
    """The client's effort, in the target's own reasoning parameters."""
    if asked:
        assert sent == asked
    wanted = reasoning_params(target, body)
    if target == "openai-chat":
        assert wanted == sent
    else:
        budget = effort_to_budget(sent)
        assert wanted == {"thinking": {"type": "enabled", "budget_tokens": budget}, "effort": None}


def assert_reasoning_replayed(target: str, body: dict) -> None:
    """The provider gets its own reasoning back on the next turn."""
    (turn,) = [m for m in body["messages"] if m["role"] == "assistant"]
    if target == "openai-chat":
        assert turn["reasoning_content"] == REASONING
    else:
        thinking = [b for b in turn["content"] if b["type"] == "thinking"]
        assert thinking == [{"type": "thinking", "thinking": REASONING, "signature": SIGNATURE}]
        assert turn["content"][0]["type"] == "thinking"  # Anthropic wants it first


def assert_default_side_calls(requests: list) -> None:
    """The built-in provider's WebSocket attempt got a 426 (so it streamed over
    HTTPS at once) and its model list came from the proxy, not chatgpt.com."""
    upgrades = [r for r in requests if r.method == "GET" and r.url.endswith("/v1/responses")]
    assert upgrades and all(r.status == 426 for r in upgrades)
    assert upgrades[0].headers.get("upgrade", "").lower() == "websocket"
    models = [r for r in requests if "chatgpt.com/backend-api/codex/models" in r.url]
    assert models and all(r.status == 200 for r in models)
