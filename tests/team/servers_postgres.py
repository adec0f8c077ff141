"""A real PostgreSQL server on loopback for the tests of the store on
PostgreSQL (``omniroute_store=postgresql://...``).

The session fixture ``postgres_server`` starts one server per test process
(initdb in a temporary directory, a free port on 127.0.0.1, its unix socket
in that directory, trust auth on loopback) and stops it afterwards. As root
it runs as the ``postgres`` user (the server refuses to run as root).
``pg_url`` gives each test a database of its own. Without PostgreSQL the
tests that need it are skipped, saying why; ``scripts/test.sh`` installs it
with apt when it runs as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

INSTALL_HINT = "apt-get install postgresql (scripts/test.sh does it when run as root)"


def find_bin() -> Path | None:
    """The folder of initdb/pg_ctl: $PG_BIN, else Debian's, else on PATH."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One throw-away cluster; ``stop()``/``start()`` for outage tests."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="omniroute-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.running = False
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")  # (checked by the fixture)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / tool), *args], cwd=self.root, capture_output=True, text=True,
            timeout=120, env={**os.environ, "LC_ALL": "C"}, **self._user,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        if self.running:
            return
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip
        self.running = True

    def stop(self) -> None:
        if not self.running:
            return
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    pytest.importorskip("psycopg", reason="psycopg not installed (the test extra has it)")
    bindir = find_bin()
    if bindir is None:
        pytest.skip(f"PostgreSQL not found (no initdb): {INSTALL_HINT}")
    if os.geteuid() == 0 and not _has_user("postgres"):
        pytest.skip(f"running as root and no postgres user to run the server as: {INSTALL_HINT}")
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's server (running again after the
    test, whatever an outage test left)."""
    yield postgres_server.url(postgres_server.create_database())
    postgres_server.start()
