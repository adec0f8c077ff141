"""Qwen Code (``qwen -p``, installed pinned by ``scripts/install_clients.sh
reach``) at DashScope's OpenAI-compatible endpoint
(dashscope-intl.aliyuncs.com/compatible-mode/v1, from the endpoint catalog)
through the proxy, its chat calls served by an anthropic and by a gemini
provider: a ``run_shell_command`` round trip, with only the README's env line
(``scripts/ca.py env --client qwen``) and the base URL the vendor documents."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_harness import (
    CLIENT_KEY,
    FINAL_TEXT,
    PROOF_TEXT,
    REACH_BIN,
    ROOT,
    TOOL_OUTPUT,
    CliResult,
    client_requests,
    env_line,
    proxy_env,
    run_cli,
    tool_exchanges,
    tool_names,
    usage_rows,
)
from e2e_harness import Mitmdump, provider_key
from fakeprovider import Reply, ToolCall

pytestmark = pytest.mark.cli

BASE_URL = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
PROMPT = "Write the proof file with one shell command, then say you are done."
CALL_IDS = {"anthropic": "toolu_01QwenCodeShell", "gemini": "call_qwen_code_0001"}
SETTINGS = {
    "security": {"auth": {"selectedType": "openai"}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
}


@pytest.fixture(scope="session")
def qwen_bin() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts/install_clients.sh"), "reach"],
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    if proc.returncode == 3:
        pytest.skip(f"Qwen Code needs npm: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"install_clients.sh reach failed:\n{proc.stderr[-4000:]}"
    return REACH_BIN / "qwen"


def run_qwen(qwen: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    (home / ".qwen").mkdir(parents=True)
    (home / ".qwen" / "settings.json").write_text(json.dumps(SETTINGS))
    env = proxy_env(home, mitm) | env_line(mitm, "qwen") | {
        "OPENAI_API_KEY": CLIENT_KEY,
        "OPENAI_BASE_URL": BASE_URL,
        "OPENAI_MODEL": "qwen3-coder-plus",
        "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1",
    }
    argv = [str(qwen), "-p", PROMPT, "--yolo", "--output-format", "stream-json"]
    return run_cli(argv, env, tmp_path / "work")


@pytest.mark.parametrize("target", ["anthropic", "gemini"])
def test_qwen_code_shell_round_trip_at_dashscope(qwen_bin, proxy_to, fake, tmp_path, target):
    work = tmp_path / "work"
    work.mkdir()
    proof = work / "proof.txt"
    args = {"command": f"printf {PROOF_TEXT} > {proof} && echo {TOOL_OUTPUT}"}
    fake.script([Reply(tool_calls=[ToolCall("run_shell_command", args, id=CALL_IDS[target])]),
                 Reply(text=FINAL_TEXT)])  # fmt: skip
    mitm = proxy_to("openai-chat", target)

    result = run_qwen(qwen_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    events = list(result.json_lines())
    (final,) = [e for e in events if e.get("type") == "result"]
    assert final["subtype"] == "success" and final["result"] == FINAL_TEXT, result.describe()
    assert proof.read_text() == PROOF_TEXT

    calls = fake.model_calls()
    assert [c.format for c in calls] == [target, target], [c.path for c in calls]
    assert all(c.api_key == provider_key(target) and not c.carries(CLIENT_KEY) for c in calls)
    assert "run_shell_command" in tool_names(target, calls[0].body)
    (exchange,) = tool_exchanges(target, calls[1].body)
    assert (exchange.name, exchange.arguments) == ("run_shell_command", args)
    assert TOOL_OUTPUT in exchange.result

    saved = client_requests(mitm, calls=("/chat/completions", 2))
    chat = [r for r in saved if r.method == "POST" and "/chat/completions" in r.url]
    assert [r.url for r in chat] == [f"{BASE_URL}/chat/completions"] * 2
    assert all(r.headers["authorization"] == f"Bearer {CLIENT_KEY}" for r in chat)
    assert all(r.status == 200 for r in chat)
    rows = usage_rows(mitm, 2)[-2:]
    apps = [(r["client_endpoint"], r["client_app"]) for r in rows]
    assert apps == [("dashscope", "qwen-code")] * 2
