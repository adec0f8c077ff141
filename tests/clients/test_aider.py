"""Aider (``aider --message``, installed pinned into its own venv by
``scripts/install_clients.sh aider``; its model calls go through the LiteLLM
it pins) at Mistral's endpoint (api.mistral.ai/v1, from the endpoint catalog,
LiteLLM's default for ``mistral/`` models) through the proxy, served by an
anthropic and by a gemini provider, with only the README's env line
(``scripts/ca.py env --client aider``) and its own ``~/.aider.conf.yml``.

Aider has no function tools: it edits files through its edit format (SEARCH/
REPLACE blocks in the answer's text). Its round trip here is that: the file
goes to the provider inside the prompt, the provider's streamed answer holds
an edit, and Aider applies it to the file in a temporary git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cli_harness import (
    CLIENT_KEY,
    ROOT,
    CliResult,
    client_requests,
    env_line,
    proxy_env,
    run_cli,
    usage_rows,
)
from e2e_harness import Mitmdump, provider_key
from fakeprovider import Reply

pytestmark = pytest.mark.cli

AIDER = ROOT / ".cache" / "clients-aider" / "venv" / "bin" / "aider"
BASE_URL = "https://api.mistral.ai/v1"
OLD = "Hello from the old file."
NEW = "Hello from the file Aider edited through omniroute."
PROMPT = "Change the greeting in greeting.txt to the new one."
# Aider's diff edit format: the file's name, then one SEARCH/REPLACE block
EDIT = f"I will change the greeting.\n\ngreeting.txt\n```\n<<<<<<< SEARCH\n{OLD}\n=======\n{NEW}\n>>>>>>> REPLACE\n```\n"  # noqa: E501
# ~/.aider.conf.yml: the model (LiteLLM's mistral/ provider), and nothing that
# calls out on its own (update check, analytics) or asks a question
SETTINGS = """\
model: mistral/mistral-large-latest
edit-format: diff
check-update: false
show-release-notes: false
analytics: false
analytics-disable: true
auto-commits: false
auto-lint: false
gitignore: false
map-tokens: 0
pretty: false
fancy-input: false
show-model-warnings: false
suggest-shell-commands: false
detect-urls: false
"""


@pytest.fixture(scope="session")
def aider_bin() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts/install_clients.sh"), "aider"],
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    if proc.returncode == 3:
        pytest.skip(f"Aider needs a Python 3.10-3.12: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"install_clients.sh aider failed:\n{proc.stderr[-4000:]}"
    return AIDER


def git_repo(work: Path) -> Path:
    work.mkdir()
    greeting = work / "greeting.txt"
    greeting.write_text(OLD + "\n")
    for argv in (["init", "-q"], ["add", "greeting.txt"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid",
                  "commit", "-qm", "start"]):  # fmt: skip
        subprocess.run(["git", *argv], cwd=work, check=True, capture_output=True, timeout=60)
    return greeting


def run_aider(aider: Path, mitm: Mitmdump, tmp_path: Path) -> CliResult:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".aider.conf.yml").write_text(SETTINGS)
    env = proxy_env(home, mitm) | env_line(mitm, "aider") | {
        "MISTRAL_API_KEY": CLIENT_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # its price list is fetched, else: not a call
    }
    argv = [str(aider), "--message", PROMPT, "--yes-always", "greeting.txt"]
    return run_cli(argv, env, tmp_path / "work")


@pytest.mark.parametrize("target", ["anthropic", "gemini"])
def test_aider_applies_an_edit_streamed_from_another_format_at_mistral(
        aider_bin, proxy_to, fake, tmp_path, target):  # fmt: skip
    greeting = git_repo(tmp_path / "work")
    fake.script([Reply(text=EDIT)])
    mitm = proxy_to("openai-chat", target)

    result = run_aider(aider_bin, mitm, tmp_path)

    assert result.returncode == 0, result.describe()
    assert greeting.read_text() == NEW + "\n", result.describe()
    assert "Applied edit to greeting.txt" in result.stdout, result.describe()

    (upstream,) = fake.model_calls()
    assert upstream.format == target
    assert upstream.api_key == provider_key(target) and not upstream.carries(CLIENT_KEY)
    prompt = str(upstream.body)
    assert OLD in prompt and PROMPT in prompt  # the file and the ask reached the provider

    saved = client_requests(mitm, calls=("/chat/completions", 1))
    (sent,) = [r for r in saved if r.method == "POST" and "/chat/completions" in r.url]
    assert sent.url == f"{BASE_URL}/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {CLIENT_KEY}"
    assert sent.body["stream"] is True and sent.status == 200
    (row,) = usage_rows(mitm, 1)[-1:]
    assert (row["client_endpoint"], row["client_app"]) == ("mistral", "litellm"), sent.headers
