"""Installed the way Python tools are installed: the wheel, in a fresh virtual
environment (no ``-e``, no checkout on the path). Every module imports, the
commands run, ``omniroute init`` writes the user's config and CA, and mitmdump
from that venv routes a request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest
from e2e_harness import (
    CLIENT_KEY,
    GUARD,
    ROOT,
    Mitmdump,
    client_ssl_context,
    copy_confdir,
    e2e_config,
    write_config,
)

pytestmark = pytest.mark.e2e

PIP_CACHE = ROOT / ".cache" / "pip"

IMPORT_ALL = """
import importlib, pkgutil, sys
import omniroute_mitm
names, team = [], []
for info in pkgutil.walk_packages(omniroute_mitm.__path__, "omniroute_mitm."):
    if info.name.endswith("__main__"):
        continue
    try:
        module = importlib.import_module(info.name)
    except ModuleNotFoundError as exc:  # the team extra's libraries only
        assert exc.name in ("psycopg", "psycopg_pool", "redis"), (info.name, exc)
        team.append(info.name)
        continue
    assert "/site-packages/" in (module.__file__ or ""), (info.name, module.__file__)
    names.append(info.name)
print(len(names), " ".join(sorted(names)), "|", " ".join(sorted(team)))
"""
TEAM_MODULES = ["omniroute_mitm.engine.core.pgsql", "omniroute_mitm.engine.core.pgstore",
                "omniroute_mitm.engine.route.invalidations", "omniroute_mitm.engine.route.shared"]
"""Modules of the ``team`` extra (PostgreSQL, Valkey): imported only when selected."""


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    # a copy of the source: builds on two workers must not share build/ or egg-info
    source = tmp / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "node_modules")
    for name in ("pyproject.toml", "setup.py", "README.md", "config.yaml"):
        source.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    for name in ("addons", "translators"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--cache-dir",
         str(PIP_CACHE), "--wheel-dir", str(tmp / "dist"), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp / "dist").glob("omniroute_mitm-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "--cache-dir", str(PIP_CACHE), str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return env_dir


def user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), PYTHONPATH="",
               COLUMNS="400")  # fmt: skip  (argparse wraps help at hyphens otherwise)
    return env


def test_every_module_imports_from_the_installed_wheel(wheel_venv, tmp_path) -> None:
    done = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", IMPORT_ALL],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found, team = done.stdout.split("|")
    assert team.split() == TEAM_MODULES  # the base install lacks only the team extra
    count, names = found.split(" ", 1)
    assert int(count) > 60
    for stage in ("core", "route", "translate", "stream", "record", "execute", "serve", "ops"):
        assert f"omniroute_mitm.engine.{stage}" in names.split()
    assert "omniroute_mitm.translators.anthropic" in names.split()
    assert "omniroute_mitm.engine.translate.responses.store" in names.split()


def test_commands_and_init_use_the_users_directories(wheel_venv, tmp_path) -> None:
    home = tmp_path / "home"
    env = user_env(home)
    bin_ = wheel_venv / "bin"
    helped = subprocess.run([str(bin_ / "omniroute"), "doctor", "--help"], env=env,
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert helped.returncode == 0 and "--config" in helped.stdout, helped.stderr
    config = home / ".config" / "omniroute-mitm" / "config.yaml"
    assert str(config) in helped.stdout  # the default is the user's, not site-packages'
    done = subprocess.run([str(bin_ / "omniroute"), "init"], env=env, capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert config.read_text() == (ROOT / "config.yaml").read_text()
    certs = home / ".local" / "share" / "omniroute-mitm" / "certs"
    assert (certs / "mitmproxy-ca.pem").is_file()
    # keys may go in the config; the CA's key in certs/: the user's alone
    assert (config.stat().st_mode & 0o777, certs.stat().st_mode & 0o777) == (0o600, 0o700)
    again = subprocess.run([str(bin_ / "omniroute"), "init"], env=env, capture_output=True,
                           text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert "kept" in again.stdout  # never overwrites the user's config
    addon = subprocess.run([str(bin_ / "omniroute"), "addon"], env=env, capture_output=True,
                           text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    entry = Path(addon.stdout.strip())
    assert entry.is_file() and "site-packages" in str(entry)
    assert sorted(p.name for p in entry.parent.iterdir() if p.suffix == ".py") == ["omniroute.py"]
    usage = subprocess.run([str(bin_ / "omniroute-usage"), "--json"], env=env,
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert "Traceback" not in usage.stderr
    assert "site-packages" not in usage.stdout + usage.stderr


class WheelMitmdump(Mitmdump):
    """The harness's mitmdump, but the wheel venv's, with the checkout's entry file."""

    bin_dir: Path

    def command(self) -> list[str]:
        cmd = super().command()
        return [str(self.bin_dir / "mitmdump"), *cmd[1:]]

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PYTHONPATH"] = ""
        return env


def test_mitmdump_from_the_wheel_routes_a_request(
    wheel_venv, tmp_path, ca_dir, e2e_provider
) -> None:
    config = write_config(tmp_path / "config.yaml", e2e_config(e2e_provider.port))
    mitm = WheelMitmdump(config, copy_confdir(ca_dir, tmp_path / "confdir"))
    mitm.bin_dir = wheel_venv / "bin"
    assert mitm.command()[2] == str(ROOT / "addons" / "omniroute.py") and GUARD.exists()
    mitm.start()
    try:
        with httpx.Client(proxy=f"http://127.0.0.1:{mitm.port}",
                          verify=client_ssl_context(ca_dir), timeout=30) as client:  # fmt: skip
            resp = client.post(
                "https://api.anthropic.com/v1/messages",
                headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
                json={"model": "to-openai-chat", "max_tokens": 50,
                      "messages": [{"role": "user", "content": "hi"}]},
            )  # fmt: skip
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["type"] == "message" and body["content"][0]["type"] == "text"
        assert any("fake-openai-chat/upstream-openai-chat" in line for line in mitm.lines)
    finally:
        mitm.stop()
