"""Where ../shared/fixtures (recorded provider traffic, outside the repo) is.

Next to the checkout, or next to the main checkout when the tests run in a git
worktree elsewhere (the fixtures are never copied into the project)."""

from __future__ import annotations

import subprocess
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]


def _find() -> Path:
    here = _ROOT.parent / "shared" / "fixtures"
    if here.is_dir():
        return here
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return here
    main = Path(common).parent.parent / "shared" / "fixtures"
    return main if common and main.is_dir() else here


FIXTURES = _find()
