"""`omniroute doctor`: each check against real parts (the fake provider on
loopback, a temp CA made by scripts/ca.py, node, temp HOMEs with CLI settings)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fakeprovider import FakeProvider
from omniroute_mitm.engine.ops.doctor import Context, run
from omniroute_mitm.engine.ops.doctor.ca_checks import check_ca, check_trust
from omniroute_mitm.engine.ops.doctor.client_checks import check_clients
from omniroute_mitm.engine.ops.doctor.providers import check_providers
from omniroute_mitm.engine.ops.doctor.setup_checks import check_config, check_keys

ROOT = Path(__file__).resolve().parents[2]
GOOD, BAD = "pk-doctor-good-key", "pk-doctor-wrong-key"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_ca_script():
    from omniroute_mitm.engine.ops import ca

    return ca


@pytest.fixture(scope="module")
def confdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    load_ca_script().generate(d)
    return d


def config_for(tmp_path: Path, fp: FakeProvider) -> Path:
    dead = closed_port()
    path = tmp_path / "config.yaml"
    path.write_text(
        "providers:\n"
        f"  good: {{format: anthropic, base_url: '{fp.url}/v1', keys: ['${{DOC_GOOD}}']}}\n"
        f"  wrong: {{format: openai-chat, base_url: '{fp.url}/v1', keys: ['${{DOC_WRONG}}']}}\n"
        f"  gem: {{format: gemini, base_url: '{fp.url}/v1beta', keys: ['${{DOC_GOOD}}']}}\n"
        f"  dead: {{format: openai-responses, base_url: 'http://127.0.0.1:{dead}/v1', "
        "keys: ['${DOC_GOOD}']}\n"
        f"  spare: {{format: openai-chat, base_url: '{fp.url}/v1', keys: ['${{DOC_UNSET}}']}}\n"
        "routes:\n"
        "  - {match: {client: anthropic}, to: good/claude-test-1}\n"
        "  - {match: {client: openai-chat}, to: wrong/gpt-4o}\n"
        "  - {match: {client: gemini}, to: gem/gemini-2.5-flash}\n"
        "  - {match: {client: openai-responses}, to: dead/fake-model}\n"
    )
    return path


def lines_of(context: Context, *checks) -> tuple[int, list[str]]:
    out: list[str] = []
    return run(context, checks, out.append), out


def line_for(lines: list[str], name: str) -> str:
    found = [line for line in lines if f" {name}:" in line]
    assert len(found) == 1, lines
    return found[0]


def test_providers_reachable_refused_unreachable(tmp_path, fake_provider):
    fake_provider.accept_keys({GOOD})
    env = {"DOC_GOOD": GOOD, "DOC_WRONG": BAD, "PATH": os.environ["PATH"]}
    context = Context(config_path=config_for(tmp_path, fake_provider), env=env, timeout=3)
    code, lines = lines_of(context, check_config, check_keys, check_providers)
    assert code == 1
    assert line_for(lines, "provider good").startswith("ok ")
    assert "$DOC_GOOD accepted" in line_for(lines, "provider good")
    assert line_for(lines, "provider gem").startswith("ok ")
    wrong = line_for(lines, "provider wrong")
    assert wrong.startswith("error ") and "refused (401" in wrong and "fix: check the key in " \
        "$DOC_WRONG" in wrong
    dead = line_for(lines, "provider dead")
    assert dead.startswith("error ") and "cannot reach" in dead and "fix: " in dead
    spare = line_for(lines, "provider spare key")
    assert spare.startswith("warning ") and "export DOC_UNSET=" in spare
    assert not any(GOOD in line or BAD in line for line in lines)  # keys are never shown
    calls = [r for r in fake_provider.requests if r.path.endswith("/models")]
    assert len(calls) == 3 and all(r.method == "GET" for r in calls)  # no tokens spent
    assert not fake_provider.model_calls()


def test_a_model_the_provider_does_not_list_is_a_warning(tmp_path, fake_provider):
    path = config_for(tmp_path, fake_provider)
    path.write_text(path.read_text().replace("good/claude-test-1", "good/claude-tset-1"))
    env = {"DOC_GOOD": GOOD, "DOC_WRONG": GOOD}
    code, lines = lines_of(Context(config_path=path, env=env, timeout=3),
                           check_config, check_keys, check_providers)
    typo = [line for line in lines if " provider good:" in line][1]
    assert typo.startswith("warning ") and "not in its model list: claude-tset-1" in typo
    assert "it lists claude-test-1, fake-model" in typo


def test_missing_key_of_a_used_provider_is_an_error(tmp_path, fake_provider):
    env = {"DOC_GOOD": GOOD}  # DOC_WRONG, used by a route, is missing
    context = Context(config_path=config_for(tmp_path, fake_provider), env=env, timeout=3)
    code, lines = lines_of(context, check_config, check_keys)
    assert code == 1
    assert line_for(lines, "provider wrong key").startswith("error ")
    assert "export DOC_WRONG=<your key>" in line_for(lines, "provider wrong key")
    assert "$DOC_WRONG is not set (or set without export)" in line_for(lines, "provider wrong key")
    context = Context(config_path=context.config_path, env={**env, "DOC_WRONG": ""}, timeout=3)
    code, lines = lines_of(context, check_config, check_keys)
    assert code == 1 and "$DOC_WRONG is exported but empty" in line_for(lines, "provider wrong key")


def test_config_errors_are_the_config_lines(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("combos:\n  smart: {targets: [deepseak/chat]}\n")
    code, lines = lines_of(Context(config_path=path, env={}), check_config, check_keys)
    assert code == 1
    assert lines[0] == ("error   config: config.yaml: combos.smart.targets[0]: provider "
                        f"'deepseak' is not defined; fix: edit {path}")


def test_a_good_ca_is_trusted_by_python_and_node(confdir):
    code, lines = lines_of(Context(confdir=confdir, env=dict(os.environ)), check_ca, check_trust)
    assert code == 0, lines
    assert "(mode 0600)" in lines[0]
    assert any("name-constrained to anthropic.com" in line for line in lines)
    assert line_for(lines, "Python bundle").startswith("ok ")
    node = line_for(lines, "Node")
    assert node.startswith("ok ")
    if "not installed" not in node:
        assert "verifies the CA's leaves" in node
    assert not line_for(lines, "system store").startswith("error")  # at most a warning


def test_a_ca_for_other_domains_fails_the_handshakes(tmp_path):
    load_ca_script().generate(tmp_path, domains=("example.com",))
    code, lines = lines_of(Context(confdir=tmp_path, env=dict(os.environ)), check_ca, check_trust)
    assert code == 1
    assert any(line.startswith("warning CA: cannot sign for api.anthropic.com") for line in lines)
    assert line_for(lines, "Python bundle").startswith("error ")
    node = line_for(lines, "Node")
    assert node.startswith("error ") or "not installed" in node


def test_a_readable_key_and_a_missing_ca_are_errors(tmp_path, confdir):
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    for f in confdir.iterdir():
        (leaky / f.name).write_bytes(f.read_bytes())
    (leaky / "mitmproxy-ca.pem").chmod(0o644)
    code, lines = lines_of(Context(confdir=leaky), check_ca)
    assert code == 1 and "mode 0644" in lines[0] and "fix: chmod 600" in lines[0]
    code, lines = lines_of(Context(confdir=tmp_path / "none"), check_ca, check_trust)
    assert code == 1 and lines[0].endswith("fix: .venv/bin/python scripts/ca.py generate")


def fake_cli(bin_dir: Path, name: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / name).chmod(0o755)


def test_clients_not_set_up_are_warnings_with_the_env_line(tmp_path, confdir):
    fake_cli(tmp_path / "bin", "claude")
    env = {"PATH": str(tmp_path / "bin")}
    context = Context(confdir=confdir, env=env, home=tmp_path, client_bin=None)
    code, lines = lines_of(context, check_clients)
    assert code == 0
    claude = line_for(lines, "claude")
    assert claude.startswith("warning ") and "HTTPS_PROXY is not set" in claude
    assert claude.endswith("env --port 8080 --client claude)\"")
    assert line_for(lines, "codex").endswith("not installed")


def test_clients_set_up_by_their_own_files(tmp_path, confdir):
    for name in ("claude", "codex", "gemini"):
        fake_cli(tmp_path / "bin", name)
    cert = str(confdir / "mitmproxy-ca-cert.pem")
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text(json.dumps(
        {"env": {"HTTPS_PROXY": "http://127.0.0.1:8123", "NODE_EXTRA_CA_CERTS": cert}}))
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "config.toml").write_text(
        'model_provider = "x"\n[model_providers.x]\nbase_url = "https://llm.internal.example/v1"\n')
    env = {"PATH": str(tmp_path / "bin"), "HTTPS_PROXY": "http://127.0.0.1:9999",
           "SSL_CERT_FILE": str(confdir / "ca-bundle.pem")}
    context = Context(confdir=confdir, env=env, home=tmp_path, port=8123, client_bin=None)
    code, lines = lines_of(context, check_clients)
    claude = line_for(lines, "claude")
    assert claude.startswith("warning ") and "not http://127.0.0.1:8123" in claude  # env wins
    env.pop("HTTPS_PROXY")
    code, lines = lines_of(context, check_clients)
    assert code == 0
    assert line_for(lines, "claude").startswith("ok ")
    codex = [line for line in lines if " codex:" in line]
    assert codex[0].startswith("warning ") and "HTTPS_PROXY is not set" in codex[0]
    assert "calls llm.internal.example" in codex[1] and "https://api.openai.com/v1" in codex[1]
    gemini = line_for(lines, "gemini")
    assert "NODE_EXTRA_CA_CERTS does not hold it" in gemini


def test_command_line_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("routes:\n  - {to: nowhere}\n")
    command = [sys.executable, "-m", "omniroute_mitm.engine.ops.cli", "doctor",
               "--config", str(bad),
               "--certs", str(tmp_path / "none"), "--port", str(closed_port()), "--timeout", "1"]
    env = {"PATH": str(tmp_path / "no-bin"), "HOME": str(tmp_path),  # no CLIs, no node
           "OMNIROUTE_CLIENT_BIN": ""}  # not even the project's own install
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          cwd=ROOT / "addons", env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "error   config: config.yaml: routes[0].to: 'nowhere' is not" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "doctor: 2 error(s), 1 warning(s)"


def test_clis_installed_by_the_project_are_found_off_the_path(tmp_path, confdir):
    own = tmp_path / "cache-bin"
    fake_cli(own, "codex")
    context = Context(confdir=confdir, env={"PATH": str(tmp_path / "no-bin")}, home=tmp_path,
                      client_bin=own)  # fmt: skip
    _, lines = lines_of(context, check_clients)
    found = [line for line in lines if line.split()[1] == "codex:"]
    assert found[0].startswith("ok      codex: installed by scripts/install_clients.sh")
    assert f'export PATH="{own}:$PATH"' in found[0]
    assert any("codex:" in line and "HTTPS_PROXY is not set" in line for line in found)
    assert line_for(lines, "claude") == "ok      claude: not installed"


def test_qwen_opencode_and_aider_are_checked_from_their_own_files(tmp_path, confdir):
    for name in ("qwen", "opencode", "aider"):
        fake_cli(tmp_path / "bin", name)
    cert, bundle = confdir / "mitmproxy-ca-cert.pem", confdir / "ca-bundle.pem"
    (tmp_path / ".qwen").mkdir()
    (tmp_path / ".qwen" / ".env").write_text(
        f"HTTPS_PROXY=http://127.0.0.1:8123\nNODE_EXTRA_CA_CERTS={cert}\n"
        "OPENAI_BASE_URL=https://llm.internal.example/v1\n")
    (tmp_path / ".config" / "opencode").mkdir(parents=True)
    (tmp_path / ".config" / "opencode" / "opencode.json").write_text(json.dumps({"provider": {
        "kimi": {"options": {"baseURL": "https://api.moonshot.ai/anthropic/v1"}},
        "mine": {"options": {"baseURL": "https://gpu.internal.example/v1"}}}}))
    (tmp_path / ".aider.conf.yml").write_text("openai-api-base: https://api.deepseek.com/v1\n")
    env = {"PATH": str(tmp_path / "bin"), "HTTPS_PROXY": "http://127.0.0.1:8123",
           "NODE_EXTRA_CA_CERTS": str(cert)}
    context = Context(confdir=confdir, env=env, home=tmp_path, port=8123, client_bin=None,
                      client_bins=())  # fmt: skip
    _, lines = lines_of(context, check_clients)

    qwen = [line for line in lines if " qwen:" in line]
    assert qwen[0].startswith("ok ") and "trusts the CA" in qwen[0]
    assert "calls llm.internal.example (OPENAI_BASE_URL)" in qwen[1]
    assert "add llm.internal.example to config.yaml endpoints:" in qwen[1]
    opencode = [line for line in lines if " opencode:" in line]
    assert opencode[0].startswith("ok ") and len(opencode) == 2  # the catalogued one is fine
    assert "calls gpu.internal.example" in opencode[1]
    assert "provider.mine.options.baseURL" in opencode[1]
    # Aider's httpx reads SSL_CERT_FILE (or certifi), never NODE_EXTRA_CA_CERTS
    aider = line_for(lines, "aider")
    assert aider.startswith("warning ") and "SSL_CERT_FILE does not hold it" in aider
    assert aider.endswith("env --port 8123 --client aider)\"")

    (tmp_path / ".env").write_text(f"SSL_CERT_FILE={bundle}\n")  # Aider's own .env
    (tmp_path / ".aider.conf.yml").write_text("openai-api-base: https://llm.internal.example\n")
    _, lines = lines_of(context, check_clients)
    aider = [line for line in lines if " aider:" in line]
    assert aider[0].startswith("ok ") and "trusts the CA" in aider[0]
    assert "calls llm.internal.example" in aider[1]
    assert ".aider.conf.yml openai-api-base" in aider[1]


def test_clients_beyond_the_three_installed_by_the_project_are_found(tmp_path, confdir):
    reach, aider = tmp_path / "reach-bin", tmp_path / "aider-bin"
    fake_cli(reach, "opencode")
    fake_cli(aider, "aider")
    (aider / "activate").write_text("")  # Aider's own venv
    context = Context(confdir=confdir, env={"PATH": str(tmp_path / "no-bin")}, home=tmp_path,
                      client_bin=None, client_bins=(reach, aider))  # fmt: skip
    _, lines = lines_of(context, check_clients)
    assert line_for(lines, "qwen") == "ok      qwen: not installed"
    opencode, aider_line = (next(line for line in lines if line.split()[1] == f"{name}:")
                            for name in ("opencode", "aider"))  # fmt: skip
    for line in (opencode, aider_line):
        assert " installed by scripts/install_clients.sh in " in line and line.startswith("ok ")
    assert f'export PATH="{reach}:$PATH"' in opencode
    # a venv's bin on PATH would shadow the user's python: an alias instead
    assert f'alias aider="{aider / "aider"}"' in aider_line
