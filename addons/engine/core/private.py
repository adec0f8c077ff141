"""Files and folders that hold prompts, keys or the CA: the user's alone.

What the product writes there (the data folder with ``omniroute.sqlite``, the
request log, ``certs/``) is created with explicit modes, whatever the umask:
folders 0700, files 0600 (``os.mkdir``/``os.open`` with the mode, then
``chmod``/``fchmod``: a umask can only narrow a mode, ``chmod`` gives the
exact one). SQLite creates ``-wal`` and ``-shm`` with its main file's mode.
New files are created with ``O_EXCL | O_NOFOLLOW``: a symlink planted at the
path is never followed. What exists already is left as it is, with one
warning (:func:`warn_if_wider`) when others may read it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
_NEW = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_warned: set[str] = set()


def private_dir(path: Path) -> Path:
    """``path`` and its missing parents, created 0700; an existing folder is
    left as it is."""
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile (another process): keep its mode
        os.chmod(folder, DIR_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path}")
    return path


def tighten_dir(path: Path) -> Path:
    """``path`` created if missing, and made 0700 (a folder the product owns,
    about to hold a private key)."""
    private_dir(path)
    os.chmod(path, DIR_MODE)
    return path


def create_file(path: Path) -> int:
    """A new file at ``path``, 0600, open for writing (its descriptor). Fails
    (``FileExistsError``) when anything is there, a symlink included."""
    fd = os.open(path, os.O_WRONLY | _NEW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def ensure_file(path: Path) -> bool:
    """Create ``path`` empty and 0600 unless something is there already
    (then left as it is). Returns True when it made the file."""
    try:
        fd = create_file(path)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def narrow_umask() -> int:
    """Take group's and others' bits out of this process's umask (what it and
    its children create from now on is the user's alone); returns the old one."""
    old = os.umask(0o077)
    os.umask(old | 0o077)
    return old


def wider(path: Path) -> int | None:
    """The mode of ``path`` when group or others have any access to it, else
    None (also when it does not exist)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        return None
    return stat.S_IMODE(mode) if mode & 0o077 else None


def warn_if_wider(*paths: Path, holds: str = "prompts") -> list[Path]:
    """One log line per existing path (once per process) that group or
    others may read or enter; returns the paths it warned about now."""
    warned = []
    for path in paths:
        mode = wider(path)
        key = os.path.abspath(path)
        if mode is None or key in _warned:
            continue
        _warned.add(key)
        warned.append(path)
        kind, fix = ("folder", "700") if os.path.isdir(path) else ("file", "600")
        log.warning(
            "omniroute: %s %s is mode %04o: others on this machine may read it, and it holds "
            "%s; run `chmod %s %s`", kind, path, mode, holds, fix, path,
        )  # fmt: skip
    return warned
