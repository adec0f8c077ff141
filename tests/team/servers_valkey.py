"""A real Valkey or Redis server for the shared-state tests.

``valkey-server`` or ``redis-server`` from PATH (scripts/test.sh installs
Debian's redis-server when it runs as root), on 127.0.0.1, a free port, its
files in a temporary directory, no persistence. Tests that need one import the
fixtures: ``from servers_valkey import redis_server, redis_url``.

- ``redis_server``: one server per test session (per xdist worker);
- ``redis_url``: its URL, the database emptied before the test;
- ``own_redis``: a server of the test's own, to stop and start again.

Without a server binary these tests are skipped, saying so.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARIES = ("valkey-server", "redis-server")
NO_SERVER = (
    "no valkey-server or redis-server on PATH (apt-get install redis-server; "
    "scripts/test.sh installs it when run as root)"
)


def server_binary() -> str | None:
    for name in BINARIES:
        if found := shutil.which(name):
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def command(port: int, *args: str) -> bytes:
    """One command in RESP (inline commands cannot carry spaces)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"".join(parts))
        return sock.recv(65536)


class RedisServer:
    """One server process; ``stop`` and ``start`` keep its port."""

    def __init__(self, binary: str, folder: Path, *options: str) -> None:
        self.binary, self.folder, self.options = binary, folder, options
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.folder), "--save", "", "--appendonly", "no",
                "--protected-mode", "yes", "--daemonize", "no", *self.options,
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.binary} did not start:\n{self.log()}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def flush(self) -> None:
        command(self.port, "FLUSHALL")

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text("utf-8", "replace")[-4000:] if path.exists() else ""


def start_server(folder: Path, *options: str) -> RedisServer:
    """A started server (the test is skipped when there is no binary)."""
    binary = server_binary()
    if binary is None:
        pytest.skip(NO_SERVER)
    for _ in range(3):  # a free port can be taken between looking and binding
        server = RedisServer(binary, folder, *options)
        try:
            return server.start()
        except RuntimeError:
            if "Address already in use" not in server.log():
                raise
    raise RuntimeError("no free port for the Redis server")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_server(tmp_path / "redis")
    yield server
    server.stop()
