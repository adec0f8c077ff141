"""OpenCode (``opencode run``, installed pinned by ``scripts/install_clients.sh
reach``) at Moonshot's Anthropic-compatible endpoint
(api.moonshot.ai/anthropic/v1, from the endpoint catalog) through the proxy,
its model calls served by an openai-chat and by a gemini provider: a ``bash``
tool round trip, with only the README's env line (``scripts/ca.py env
--client opencode``) and a provider in its own ``opencode.json``."""

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

BASE_URL = "https://api.moonshot.ai/anthropic/v1"
PROMPT = "Write the proof file with one shell command, then say you are done."
CALL_IDS = {"openai-chat": "call_opencode_bash_0001", "gemini": "call_opencode_bash_0002"}
# the README's opencode.json: a provider on the AI SDK's Anthropic package at the
# vendor's base URL, its key from the environment; nothing else of OpenCode's moved
SETTINGS = {
    "$schema": "https://opencode.ai/config.json",
    "provider": {
        "moonshot-anthropic": {
            "npm": "@ai-sdk/anthropic",
            "name": "Kimi (Anthropic-compatible)",
            "options": {"baseURL": BASE_URL, "apiKey": "{env:MOONSHOT_API_KEY}"},
            "models": {"kimi-k2": {"name": "Kimi K2", "tool_call": True}},
        }
    },
    "model": "moonshot-anthropic/kimi-k2",
    "permission": {"bash": "allow"},
    "autoupdate": False,
    "share": "disabled",
}


@pytest.fixture(scope="session")
def opencode_bin() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts/install_clients.sh"), "reach"],
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    if proc.returncode == 3:
        pytest.skip(f"OpenCode needs npm: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"install_clients.sh reach failed:\n{proc.stderr[-4000:]}"
    return REACH_BIN / "opencode"


def run_opencode(opencode: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    (home / ".config" / "opencode").mkdir(parents=True)
    (home / ".config" / "opencode" / "opencode.json").write_text(json.dumps(SETTINGS))
    env = proxy_env(home, mitm) | env_line(mitm, "opencode") | {
        "MOONSHOT_API_KEY": CLIENT_KEY,
        "OPENCODE_DISABLE_MODELS_FETCH": "1",  # models.dev's catalog: not a model call
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
    }
    # --title: no title-writing model call of its own
    argv = [str(opencode), "run", PROMPT, "--format", "json", "--title", "proof"]
    return run_cli(argv, env, tmp_path / "work")


@pytest.mark.parametrize("target", ["openai-chat", "gemini"])
def test_opencode_bash_round_trip_at_moonshot_anthropic(opencode_bin, proxy_to, fake, tmp_path,
                                                        target):  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    proof = work / "proof.txt"
    args = {"command": f"printf {PROOF_TEXT} > {proof} && echo {TOOL_OUTPUT}",
            "description": "Writes the proof file"}  # fmt: skip
    fake.script([Reply(tool_calls=[ToolCall("bash", args, id=CALL_IDS[target])]),
                 Reply(text=FINAL_TEXT)])  # fmt: skip
    mitm = proxy_to("anthropic", target)

    result = run_opencode(opencode_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    events = list(result.json_lines())
    texts = [e["part"]["text"] for e in events if e.get("type") == "text"]
    assert texts and texts[-1] == FINAL_TEXT, result.describe()
    assert proof.read_text() == PROOF_TEXT

    calls = fake.model_calls()
    assert [c.format for c in calls] == [target, target], [c.path for c in calls]
    assert all(c.api_key == provider_key(target) and not c.carries(CLIENT_KEY) for c in calls)
    assert "bash" in tool_names(target, calls[0].body)
    (exchange,) = tool_exchanges(target, calls[1].body)
    assert (exchange.name, exchange.arguments) == ("bash", args)
    assert TOOL_OUTPUT in exchange.result

    saved = client_requests(mitm, calls=("/messages", 2))
    sent = [r for r in saved if r.method == "POST" and "/messages" in r.url]
    assert [r.url for r in sent] == [f"{BASE_URL}/messages"] * 2
    assert all(r.headers["x-api-key"] == CLIENT_KEY for r in sent)
    assert all(r.status == 200 for r in sent)
    rows = usage_rows(mitm, 2)[-2:]
    assert [(r["client_endpoint"], r["client_app"]) for r in rows] == [("moonshot", "opencode")] * 2
