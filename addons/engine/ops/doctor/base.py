"""The doctor's result type, its context and the runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from omniroute_mitm.engine.core import paths
from omniroute_mitm.engine.core.config import Config

Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Result:
    level: Level
    name: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level:<7} {self.name}: {self.message}"
        return f"{text}; fix: {self.fix}" if self.fix else text


@dataclass
class Context:
    """What the checks look at; tests point every part of it at temp files."""

    config_path: Path = field(default_factory=paths.config_file)
    confdir: Path = field(default_factory=paths.certs_dir)
    port: int = 8080
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    client_bin: Path | None = field(default_factory=paths.client_bin)
    """The project's own install of the CLIs (scripts/install_clients.sh), if any."""
    client_bins: tuple[Path, ...] = field(default_factory=paths.more_client_bins)
    """Its installs of the clients beyond the three CLIs (Qwen Code, OpenCode, Aider)."""
    timeout: float = 5.0
    """Seconds for each network check (provider list-models, TLS probes)."""
    config: Config | None = None
    """The config structure once the config check has parsed it."""
    raw: dict[str, object] = field(default_factory=dict)
    """The config file's providers as written (before ${VAR}s are resolved)."""


Check = Callable[[Context], Iterable[Result]]


def run(context: Context, checks: Iterable[Check], emit: Callable[[str], None] = print) -> int:
    """Run the checks in order, emitting one line each; 0 only when nothing is an error."""
    errors = warnings = 0
    for check in checks:
        for result in check(context):
            emit(result.line())
            errors += result.level == "error"
            warnings += result.level == "warning"
    emit(f"doctor: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0


show = paths.shown  # a path as the user would type it
