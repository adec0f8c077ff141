"""Which state store the router gets: this process's memory, or a shared
Redis-protocol server (``omniroute_state``, ``--state``, config.yaml ``state:``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from omniroute_mitm.engine.core.stateurl import MEMORY, parse_state_url

if TYPE_CHECKING:
    from omniroute_mitm.engine.route.shared import SharedStore

log = logging.getLogger(__name__)


class StateError(ValueError):
    """A state URL that cannot be used (one line, naming the option)."""


def chosen(option: str | None, config_state: str) -> str:
    """The option when given (not ``memory``), else config.yaml's ``state:``."""
    if option and option.strip().lower() != MEMORY:
        return option.strip()
    return config_state


def open_state(text: str, name: str = "omniroute_state") -> SharedStore | None:
    """None for ``memory``; a shared store (not started) for a redis:// URL."""
    try:
        where = parse_state_url(text)
    except ValueError as exc:
        raise StateError(f"{name}: {exc}") from None
    if where is None:
        return None
    try:
        from omniroute_mitm.engine.route.shared import SharedStore
    except ImportError:
        raise StateError(
            f"{name}: {where.shown} needs the redis package: pip install 'omniroute-mitm[team]'"
        ) from None
    log.info("router state shared at %s (keys %s*)", where.shown, where.prefix)
    return SharedStore(where)
