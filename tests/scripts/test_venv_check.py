"""scripts/usage and scripts/doctor after a `git pull` that changed the
dependencies: one line saying to rerun the set-up, not a Python traceback."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the wrappers with a stand-in .venv whose python says it ran."""
    for name in ("scripts/usage", "scripts/doctor", "scripts/lib/venv.sh", "pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "ran $*"\n')
    python.chmod(0o755)
    return tmp_path


def run(checkout: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(checkout / "scripts" / script), "--help"], capture_output=True,
                          text=True, timeout=30)  # fmt: skip


@pytest.mark.parametrize("script", ["usage", "doctor"])
def test_a_venv_set_up_for_this_pyproject_runs(checkout, script):
    digest = hashlib.sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()
    (checkout / ".venv" / ".installed[test]").write_text(digest + "\n")
    done = run(checkout, script)
    assert done.returncode == 0 and done.stdout.startswith("ran -m omniroute_mitm.engine.")


@pytest.mark.parametrize("script", ["usage", "doctor"])
def test_a_changed_pyproject_says_to_rerun_the_setup(checkout, script):
    (checkout / ".venv" / ".installed").write_text("an older pyproject\n")
    done = run(checkout, script)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().endswith(
        "pyproject.toml changed since .venv was set up; run: bash scripts/setup.sh")


def test_no_venv_says_to_run_the_setup(checkout):
    shutil.rmtree(checkout / ".venv")
    done = run(checkout, "usage")
    assert done.returncode == 1
    assert done.stderr == "usage: no .venv yet; run: bash scripts/setup.sh\n"
