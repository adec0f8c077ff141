"""`omniroute doctor`'s proxy check against a real mitmdump with the addon, and
against something else on the port."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from e2e_harness import e2e_config, start_mitmdump, write_config
from omniroute_mitm.engine.ops.doctor import Context, run
from omniroute_mitm.engine.ops.doctor.proxy_check import check_proxy

pytestmark = pytest.mark.e2e


def proxy_line(port: int) -> str:
    out: list[str] = []
    run(Context(port=port, timeout=5), [check_proxy], out.append)
    return out[0]


def test_doctor_recognizes_omniroute_through_its_proxy(mitm):
    line = proxy_line(mitm.port)
    assert line == (f"ok      proxy: omniroute answers at 127.0.0.1:{mitm.port} "
                    "(http://omniroute/status)")


def test_doctor_says_when_the_port_holds_something_else():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:  # an HTTP server that is not a proxy (the doctor connects twice)
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                if conn.recv(65536):
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        line = proxy_line(port)
    finally:
        thread.join(timeout=5)
        server.close()
    assert line.startswith(f"warning proxy: 127.0.0.1:{port} is not omniroute (")
    assert "answered 404" in line
    assert proxy_line(port).startswith(f"warning proxy: nothing listens at 127.0.0.1:{port}")


def test_doctor_says_when_the_proxy_still_runs_an_earlier_config(tmp_path, ca_dir, e2e_provider):
    """The reload failed in mitmdump's shell (a variable exported only in the
    doctor's): the file looks fine to the doctor, the proxy runs the old one."""
    config = e2e_config(e2e_provider.port)
    mitm = start_mitmdump(tmp_path, ca_dir, config)
    try:
        path = mitm.config
        fine = [line for line in _lines(mitm.port, path, {}) if "running config" in line]
        assert fine == []  # the file is what runs
        config["providers"]["extra"] = {"format": "openai-chat", "base_url": "http://127.0.0.1:1",
                                        "keys": ["${ONLY_IN_THE_DOCTORS_SHELL}"]}  # fmt: skip
        config["routes"].insert(0, {"match": {"model": "extra"}, "to": "extra/m"})
        write_config(path, config)
        deadline = time.monotonic() + 30
        while "config not reloaded" not in mitm.output():
            assert time.monotonic() < deadline, mitm.output()[-2000:]
            time.sleep(0.1)
        lines = _lines(mitm.port, path, {"ONLY_IN_THE_DOCTORS_SHELL": "sk-x"})
    finally:
        mitm.stop()
    (stale,) = [line for line in lines if "running config" in line]
    assert stale.startswith("warning running config: the proxy still runs an earlier version")


def _lines(port: int, config: Path, env: dict[str, str]) -> list[str]:
    out: list[str] = []
    run(Context(port=port, config_path=config, env=env, timeout=5), [check_proxy], out.append)
    return out
