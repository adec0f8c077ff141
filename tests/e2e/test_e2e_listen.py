"""Where mitmdump listens at start-up: loopback unless told otherwise, at no
moment anywhere else; beyond loopback only with proxyauth (or the explicit
omniroute_open_proxy), else it refuses to start with one line saying why."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from e2e_harness import Mitmdump, copy_confdir, e2e_config, write_config

pytestmark = pytest.mark.e2e

REFUSAL = "omniroute: refusing to listen on 0.0.0.0 without proxyauth"


class Bare(Mitmdump):
    """The harness's mitmdump without its ``--listen-host 127.0.0.1``."""

    def command(self) -> list[str]:
        cmd = super().command()
        at = cmd.index("--listen-host")
        return cmd[:at] + cmd[at + 2 :]


@pytest.fixture
def setup(tmp_path, ca_dir, e2e_provider):
    confdir = copy_confdir(ca_dir, tmp_path / "confdir")
    config = write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port))
    return config, confdir


def listening(pid: int) -> set[str]:
    """The addresses process ``pid`` listens on (TCP, IPv4 and IPv6), from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                found.add(fields[1].split(":")[0])
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 (as /proc shows)


def watch(proc: Mitmdump, started: threading.Event, seen: set[str]) -> None:
    """Poll the listening sockets of ``proc`` from its start until a while
    after it said it listens."""
    while proc.proc is None:
        time.sleep(0.0005)
    while proc.proc.poll() is None and not started.is_set():
        seen.update(listening(proc.proc.pid))
    for _ in range(200):
        seen.update(listening(proc.proc.pid))


def test_no_listen_host_means_loopback_from_the_first_moment(setup):
    """Watch the sockets of starting mitmdumps all along: never one on another
    address (mitmproxy binds before a script loads; the addon's guard moves
    the bind to loopback before the socket listens)."""
    config, confdir = setup
    for _ in range(3):
        proc = Bare(config, confdir)
        seen: set[str] = set()
        started = threading.Event()
        watcher = threading.Thread(target=watch, args=(proc, started, seen), daemon=True)
        watcher.start()
        try:
            proc.start(engine=False)
            started.set()
            watcher.join(30)
        finally:
            proc.stop()
        assert seen, "the watcher saw no listening socket at all"
        assert seen <= LOOPBACK, f"listened beyond loopback: {seen - LOOPBACK}"
        assert any("HTTP(S) proxy listening at 127.0.0.1:" in line for line in proc.lines)


def test_beyond_loopback_without_proxyauth_is_refused_in_one_line(setup):
    config, confdir = setup
    code, out = Mitmdump(config, confdir, "--listen-host", "0.0.0.0").run_to_exit()
    assert code == 1
    lines = [line for line in out.splitlines() if "refusing" in line]
    assert len(lines) == 1 and REFUSAL in lines[0]
    assert "an open proxy" in lines[0] and "omniroute_open_proxy=true" in lines[0]
    assert "Traceback" not in out
    assert "omniroute engine" not in out  # nothing started


@pytest.mark.parametrize("allow", [["--set", "omniroute_open_proxy=true"],
                                   ["--set", "proxyauth=alice:pw"]])  # fmt: skip
def test_beyond_loopback_with_proxyauth_or_the_override(setup, allow):
    config, confdir = setup
    proc = Mitmdump(config, confdir, "--listen-host", "0.0.0.0", *allow).start()
    try:
        assert any("HTTP(S) proxy listening at *:" in line for line in proc.lines)
        assert REFUSAL not in proc.output()
    finally:
        proc.stop()
