"""What a user gets from a bare `mitmdump -s addons/omniroute.py`: a proxy that
listens on loopback only, not on every interface as mitmproxy would."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest
from e2e_harness import Mitmdump, e2e_config, write_config

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
    mitm = BareMitmdump(config, ca_dir).start()
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
    mitm = Mitmdump(config, ca_dir).start()
    try:
        listening = [line for line in mitm.lines if "proxy listening at" in line]
    finally:
        mitm.stop()
    assert len(listening) == 1 and "127.0.0.1:" in listening[0], listening
    assert not any("stopped" in line for line in mitm.lines if "proxy at" in line)
