"""Where the product keeps its files.

From a checkout (the repository with ``addons/`` and ``pyproject.toml``, the
package installed editable from it): ``config.yaml``, ``certs/`` and
``data/`` in the repository, as the README shows. Installed from a wheel
(pip, pipx): the user's directories, by the platform's conventions
(platformdirs: ``~/.config/omniroute-mitm/config.yaml``,
``~/.local/share/omniroute-mitm/{certs,data}`` on Linux). Each can be
overridden: ``$OMNIROUTE_CONFIG``, ``$OMNIROUTE_CERTS_DIR``,
``$OMNIROUTE_DATA_DIR``, and the options and flags that name them.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import platformdirs

APP = "omniroute-mitm"
CONFIG_ENV = "OMNIROUTE_CONFIG"
CERTS_ENV = "OMNIROUTE_CERTS_DIR"
DATA_DIR_ENV = "OMNIROUTE_DATA_DIR"

_HERE = Path(__file__).resolve()


def checkout() -> Path | None:
    """The repository this package runs from, or None when installed from a wheel."""
    root = _HERE.parents[3]  # addons/engine/core/paths.py -> the repository
    if (root / "pyproject.toml").is_file() and (root / "addons" / "omniroute.py").is_file():
        return root
    return None


def config_file() -> Path:
    if chosen := os.environ.get(CONFIG_ENV):
        return Path(chosen).expanduser()
    root = checkout()
    if root is not None:
        return root / "config.yaml"
    return Path(platformdirs.user_config_dir(APP)) / "config.yaml"


def certs_dir() -> Path:
    if chosen := os.environ.get(CERTS_ENV):
        return Path(chosen).expanduser()
    root = checkout()
    if root is not None:
        return root / "certs"
    return Path(platformdirs.user_data_dir(APP)) / "certs"


def default_data_dir() -> Path:
    """``data/`` in a checkout, else the user's data directory (before the option and env)."""
    root = checkout()
    if root is not None:
        return root / "data"
    return Path(platformdirs.user_data_dir(APP)) / "data"


def client_bin() -> Path | None:
    """Where ``scripts/install_clients.sh`` puts the CLIs (a checkout's ``.cache``);
    ``$OMNIROUTE_CLIENT_BIN`` names another folder (empty: none)."""
    if (chosen := os.environ.get("OMNIROUTE_CLIENT_BIN")) is not None:
        return Path(chosen) if chosen else None
    root = checkout()
    return root / ".cache" / "clients" / "node_modules" / ".bin" if root is not None else None


def more_client_bins() -> tuple[Path, ...]:
    """Where ``scripts/install_clients.sh reach`` and ``... aider`` put the
    other clients (a checkout's ``.cache``); none when ``$OMNIROUTE_CLIENT_BIN``
    is set."""
    root = checkout()
    if root is None or os.environ.get("OMNIROUTE_CLIENT_BIN") is not None:
        return ()
    cache = root / ".cache"
    return (cache / "clients-reach" / "node_modules" / ".bin",
            cache / "clients-aider" / "venv" / "bin")  # fmt: skip


def ca_command() -> str:
    """The shell command that runs the CA tool: the script in a checkout, else
    the installed ``omniroute ca``."""
    root = checkout()
    if root is None:
        return "omniroute ca"
    return f"{shlex.quote(shown(sys.executable))} {shlex.quote(shown(root / 'scripts' / 'ca.py'))}"


def shown(path: str | os.PathLike[str]) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    full = Path(os.path.abspath(path))
    try:
        return str(full.relative_to(Path.cwd()))
    except ValueError:
        return str(full)
