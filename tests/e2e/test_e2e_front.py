"""What the mitmproxy front shows and how it lives: flow comments and inspectable
bodies (what mitmweb displays), no keys anywhere, config reload at runtime."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from e2e_harness import (
    CLIENT_KEY,
    FORMATS,
    e2e_config,
    provider_key,
    start_mitmdump,
    write_config,
)
from fakeprovider import Reply
from fakeprovider.sdk import call

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).resolve().parent / "flow_probe.py"
ALL_PROVIDER_KEYS = [provider_key(f) for f in (*FORMATS, "dead")]


def config(port: int, reload_target: str = "fake-openai-chat/before") -> dict:
    combos = {"fallback": {"strategy": "priority",
                           "targets": ["fake-openai-chat/primary", "fake-gemini/backup"]}}
    routes = [{"match": {"model": "fallback"}, "to": "fallback"},
              {"match": {"model": "reload-me"}, "to": reload_target}]
    return e2e_config(port, extra_combos=combos, extra_routes=routes)


@pytest.fixture(scope="module")
def mitm(tmp_path_factory, ca_dir, e2e_provider):
    tmp = tmp_path_factory.mktemp("front")
    probe_file = tmp / "flows.jsonl"
    proc = start_mitmdump(tmp, ca_dir, config(e2e_provider.port),
                          "-s", str(PROBE), "--set", f"flow_probe_file={probe_file}")
    proc.probe_file = probe_file
    yield proc
    proc.stop()
    assert not proc.blocked()


def flows(mitm, since: int = 0) -> list[dict]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if mitm.probe_file.exists():
            lines = mitm.probe_file.read_text().splitlines()[since:]
            if lines:
                return [json.loads(line) for line in lines]
        time.sleep(0.05)
    return []


def probe_count(mitm) -> int:
    return len(mitm.probe_file.read_text().splitlines()) if mitm.probe_file.exists() else 0


def test_flow_comment_names_the_route_and_the_body_stays_inspectable(conn, fake, mitm):
    before = probe_count(mitm)
    fake.script([Reply(text="visible in mitmweb")])
    assert call(conn, "anthropic", "to-openai-chat", stream=True).text == "visible in mitmweb"
    [flow] = flows(mitm, before)
    assert "https://api.anthropic.com/v1/messages" in flow["comment"]
    assert "fake-openai-chat/upstream-openai-chat" in flow["comment"]
    assert flow["status"] == 200
    assert "visible" in flow["body"] and "content_block_delta" in flow["body"]


def test_flow_comment_shows_the_fallback(conn, fake, mitm):
    before = probe_count(mitm)
    fake.script([Reply(status=429), Reply(text="from the backup")])
    assert call(conn, "openai-chat", "fallback", stream=True).text == "from the backup"
    [flow] = flows(mitm, before)
    assert "fake-gemini/backup" in flow["comment"]
    assert "fake-openai-chat/primary" in flow["comment"], "the failed target is not mentioned"


def test_no_provider_key_in_flows_or_logs(conn, fake, mitm):
    for client in FORMATS:
        fake.script([Reply(text="x"), Reply(status=503), Reply(status=503)])
        call(conn, client, "to-anthropic", stream=True)
        with pytest.raises(Exception):  # noqa: B017 (any SDK's error is fine here)
            call(conn, client, "fallback", stream=False)
    text = "\n".join(f["all_text"] for f in flows(mitm)) + "\n".join(mitm.lines)
    for key in ALL_PROVIDER_KEYS:
        assert key not in text, f"provider key {key} shown in a flow or the log"
    assert CLIENT_KEY not in "\n".join(mitm.lines), "the client's key was logged"


def test_config_reloads_when_the_file_changes_and_a_bad_edit_keeps_the_old(conn, fake, mitm,
                                                                          e2e_provider):
    fake.script([Reply(text="before")])
    call(conn, "openai-chat", "reload-me", stream=False)
    assert fake.model_calls()[-1].format == "openai-chat"

    time.sleep(1.1)  # a distinct mtime for file watchers with 1 s resolution
    write_config(mitm.config, config(e2e_provider.port, "fake-gemini/after"))
    assert _wait_for_route(conn, fake, "gemini"), "the edited config was not picked up"
    assert _wait_for_log(mitm, "  + route */reload-me -> fake-gemini/after"), mitm.output()
    assert "  - route */reload-me -> fake-openai-chat/before" in mitm.output()

    lines_before = len(mitm.lines)
    time.sleep(1.1)
    mitm.config.write_text("providers: {broken: [\n")
    time.sleep(3)  # the front checks about once a second
    fake.reset()
    call(conn, "openai-chat", "reload-me", stream=False)
    assert fake.model_calls()[-1].format == "gemini", "a bad edit replaced the working config"
    said = "\n".join(mitm.lines[lines_before:])
    assert mitm.config.name in said, "the log does not say why the edit was refused"

    write_config(mitm.config, config(e2e_provider.port))  # leave it as found


def test_startup_summary_says_routes_proxy_and_env_line(mitm):
    assert _wait_for_log(mitm, "check the set-up: "), mitm.output()
    text = mitm.output()
    assert f"config {mitm.config}" in text
    assert "route */fallback -> fallback -> fake-openai-chat/primary, fake-gemini/backup" in text
    assert "route */to-gemini -> fake-gemini/upstream-gemini" in text
    assert f"proxy http://127.0.0.1:{mitm.port} " in text
    assert f"ca.py env --port {mitm.port} --client claude)" in text
    assert f"CA {mitm.confdir / 'mitmproxy-ca-cert.pem'}" in text


def _wait_for_log(mitm, text: str, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in mitm.output():
            return True
        time.sleep(0.05)
    return False


def _wait_for_route(conn, fake, fmt: str, timeout: float = 8) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fake.reset()
        call(conn, "openai-chat", "reload-me", stream=False)
        if fake.model_calls()[-1].format == fmt:
            return True
        time.sleep(0.3)
    return False
