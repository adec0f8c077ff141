"""What a user gets from a bare `mitmdump -s addons/omniroute.py`: a proxy that
listens on loopback only, not on every interface as mitmproxy would."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import httpx
import pytest
from e2e_harness import (
    CLIENT_KEY,
    Mitmdump,
    client_ssl_context,
    copy_confdir,
    e2e_config,
    write_config,
)
from fakeprovider import Reply

pytestmark = pytest.mark.e2e


class BareMitmdump(Mitmdump):
    """The harness's mitmdump without its explicit --listen-host."""

    def command(self) -> list[str]:
        cmd = super().command()
        at = cmd.index("--listen-host")
        return cmd[:at] + cmd[at + 2 :]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net")
def test_listens_on_loopback_only_unless_told(tmp_path, ca_dir, e2e_provider) -> None:
    config = write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port))
    mitm = BareMitmdump(config, copy_confdir(ca_dir, tmp_path / "confdir")).start()
    try:
        assert mitm.port is not None
        deadline = time.monotonic() + 10
        while _listening_addresses(mitm.port) != {"0100007F"}:  # 127.0.0.1
            assert time.monotonic() < deadline, _listening_addresses(mitm.port)
            time.sleep(0.05)
        ssl.create_connection(("127.0.0.1", mitm.port), timeout=5).close()
    finally:
        mitm.stop()


def test_the_readme_command_listens_once_on_loopback(tmp_path, ca_dir, e2e_provider) -> None:
    """With --listen-host 127.0.0.1 (the README's command) there is one listen line and
    no moment on every interface."""
    config = write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port))
    mitm = Mitmdump(config, copy_confdir(ca_dir, tmp_path / "confdir")).start()
    try:
        listening = [line for line in mitm.lines if "proxy listening at" in line]
    finally:
        mitm.stop()
    assert len(listening) == 1 and "127.0.0.1:" in listening[0], listening
    assert not any("stopped" in line for line in mitm.lines if "proxy at" in line)


def test_plain_mitmdump_lines_say_what_a_routed_stream_did(tmp_path, ca_dir, fake) -> None:
    """mitmdump's response line says the body was streamed (not "content
    missing", which reads like an error), and the engine's line carries the
    tokens and the cost, or that the model is not priced."""
    fake.script([Reply(text="Hello there.")])
    config = write_config(tmp_path / "config.yaml", e2e_config(fake.port))
    mitm = Mitmdump(config, copy_confdir(ca_dir, tmp_path / "confdir")).start()
    try:
        with httpx.Client(proxy=mitm.url, verify=client_ssl_context(ca_dir), timeout=30) as c:
            with c.stream("POST", "https://api.anthropic.com/v1/messages", json={
                "model": "to-openai-chat", "max_tokens": 50, "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            }, headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}) as resp:
                assert resp.status_code == 200
                body = b"".join(resp.iter_bytes())
        assert b"message_stop" in body
        deadline = time.monotonic() + 10
        while not any("(streamed" in line for line in mitm.lines):
            assert time.monotonic() < deadline, mitm.output()[-2000:]
            time.sleep(0.05)
    finally:
        mitm.stop()
    out = mitm.output()
    assert "(content missing)" not in out
    assert any("<< 200 OK (streamed " in line and "body not kept" in line for line in mitm.lines)
    (engine_line,) = [line for line in mitm.lines if "anthropic generate" in line]
    assert " in / " in engine_line
    assert "not priced (no price for upstream-openai-chat)" in engine_line
