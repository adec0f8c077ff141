"""What the product writes that holds prompts, keys or the CA is the user's
alone, whatever the umask: through a real mitmdump (and scripts/ca.py) run
under umask 000 and 022, the data folder, ``omniroute.sqlite`` with its
``-wal``/``-shm``, the request log and ``certs/`` are 0700 folders and 0600
files; an existing wider one is kept and warned about once."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from e2e_harness import (
    ROOT,
    Mitmdump,
    client_ssl_context,
    e2e_config,
    write_config,
)

pytestmark = pytest.mark.e2e


class UmaskMitmdump(Mitmdump):
    """The harness's mitmdump, started by a shell that sets ``umask`` first."""

    def __init__(self, umask: str, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.umask = umask

    def command(self) -> list[str]:
        return ["/bin/sh", "-c", f'umask {self.umask} && exec "$@"', "sh", *super().command()]


def ca_copy(ca_dir: Path, dst: Path) -> Path:
    """The session's CA alone (a test that ran mitmdump on it left its data/ there)."""
    return Path(shutil.copytree(ca_dir, dst, ignore=shutil.ignore_patterns("data")))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def generate_ca(confdir: Path, umask: str) -> None:
    """scripts/ca.py generate under ``umask`` (what scripts/setup.sh runs)."""
    script = f'umask {umask} && exec "$@"'
    cmd = ["/bin/sh", "-c", script, "sh", sys.executable, str(ROOT / "scripts" / "ca.py"),
           "--dir", str(confdir), "generate"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def routed_call(mitm: Mitmdump) -> None:
    with httpx.Client(proxy=mitm.url, verify=client_ssl_context(mitm.confdir), timeout=20) as c:
        resp = c.post("https://api.openai.com/v1/responses",
                      headers={"authorization": "Bearer sk-anything"},
                      json={"model": "to-openai-responses", "input": "a private prompt"})
    assert resp.status_code == 200, resp.text


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("umask", ["000", "022"])
def test_the_ca_folder_and_key_are_private(tmp_path, umask):
    confdir = tmp_path / "certs"  # made by ca.py itself, like a fresh install's
    generate_ca(confdir, umask)
    assert mode(confdir) == 0o700
    for name in ("mitmproxy-ca.pem", "mitmproxy-ca.p12"):
        assert mode(confdir / name) == 0o600, name


def test_a_new_ca_in_an_existing_folder_makes_it_private(tmp_path):
    """A fresh clone's certs/ (from git, 0755) once the setup wrote the key in it."""
    confdir = tmp_path / "certs"
    confdir.mkdir()
    os.chmod(confdir, 0o755)
    generate_ca(confdir, "022")
    assert mode(confdir) == 0o700


@pytest.mark.parametrize("umask", ["000", "022"])
def test_the_data_folder_store_and_request_log_are_private(tmp_path, ca_dir, e2e_provider,
                                                          fake, umask):
    confdir = ca_copy(ca_dir, tmp_path / "certs")
    config = write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port))
    mitm = UmaskMitmdump(umask, config, confdir, "--set", "omniroute_log_requests=true")
    data = confdir / "data"  # the harness's $OMNIROUTE_DATA_DIR: not there before the start
    assert not data.exists()
    mitm.start()
    try:
        routed_call(mitm)
        requests = data / "requests"
        wait_for(lambda: any(requests.glob("*.log")))
        db = data / "omniroute.sqlite"
        wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
        wait_for(lambda: wal.exists() and shm.exists())
        found = {p.name: mode(p) for p in (data, requests, db, wal, shm)}
        found |= {p.name: mode(p) for p in requests.glob("*.log")}
        want = {name: 0o700 if name in ("data", "requests") else 0o600 for name in found}
        assert found == want, {k: oct(v) for k, v in found.items()}
    finally:
        mitm.stop()
    assert "others on this machine may read it" not in mitm.output()


@pytest.mark.parametrize("umask", ["000", "022"])
def test_saved_flows_are_private(tmp_path, ca_dir, e2e_provider, fake, umask):
    """``mitmdump -w`` holds every prompt and answer: mitmproxy creates the file
    after the addon loaded, under the umask it narrowed."""
    confdir = ca_copy(ca_dir, tmp_path / "certs")
    config = write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port))
    flows, har = tmp_path / "saved.mitm", tmp_path / "saved.har"
    mitm = UmaskMitmdump(umask, config, confdir, "-w", str(flows),
                         "--set", f"hardump={har}").start()
    try:
        routed_call(mitm)
    finally:
        mitm.stop()
    assert b"a private prompt" in flows.read_bytes()
    assert (mode(flows), mode(har)) == (0o600, 0o600)


def test_a_wider_existing_folder_and_file_are_warned_about_once(tmp_path, e2e_provider, fake):
    confdir = tmp_path / "certs"
    generate_ca(confdir, "022")
    data = confdir / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "omniroute.sqlite").touch()
    os.chmod(data / "omniroute.sqlite", 0o644)
    os.chmod(confdir, 0o755)
    config = write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port))
    mitm = UmaskMitmdump("022", config, confdir, "--set", "omniroute_log_requests=true").start()
    try:
        routed_call(mitm)
        wait_for(lambda: any((data / "requests").glob("*.log")))
    finally:
        mitm.stop()
    lines = [line for line in mitm.lines if "others on this machine may read it" in line]
    for path, shown in ((data, "0755"), (data / "omniroute.sqlite", "0644"), (confdir, "0755")):
        warned = [line for line in lines if f" {path} is mode {shown}" in line]
        assert len(warned) == 1, (path, lines)
    assert mode(data) == 0o755  # kept as the user has it; the warning says how to fix it
