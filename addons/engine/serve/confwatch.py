"""Reload the config when its file changes (a cheap mtime poll)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from omniroute_mitm.engine.core.config import Config, ConfigError, load_config
from omniroute_mitm.engine.core.summary import block, config_lines, reload_lines

log = logging.getLogger(__name__)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ConfigWatcher:
    """Calls ``apply(config)`` when the file changed and is valid; a bad
    edit keeps the old config and logs why, once per change."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        apply: Callable[[Config], None],
        current: Config | None = None,
    ) -> None:
        self.path = Path(path)
        self.apply = apply
        self._stamp = _stamp(self.path)
        self._lines = config_lines(current, self.path) if current is not None else []

    def check(self) -> bool:
        """Reload if the file changed; True if a new config was applied."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            log.warning("config not reloaded, keeping the previous one:\n%s", exc)
            return False
        for warning in config.warnings:
            log.warning("%s", warning)
        self.apply(config)
        lines = config_lines(config, self.path)
        changes = reload_lines(self._lines, lines)
        log.info("%s", block(f"config reloaded from {self.path}:", changes))
        self._lines = lines
        return True

    async def run(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self.check()
