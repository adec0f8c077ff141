"""The engine inside mitmproxy's own loop (``omniroute_engine_mode=inprocess``).

The front imports this module only in that mode, so a front whose engine runs
as a child process never loads tornado, httpx or the router.
"""

from __future__ import annotations

from omniroute_mitm.engine.core.config import Config
from omniroute_mitm.engine.core.database import Store
from omniroute_mitm.engine.translate.responses import open_responses

from .server import Engine
from .sharing import StateError, chosen, open_state

__all__ = ["StateError", "embedded_engine"]


def embedded_engine(
    config: Config,
    *,
    direct_token: str | None,
    store: Store | None,
    data_dir: str | None,
    state: str = "",
) -> Engine:
    """An engine sharing the front's process: its own store and response history;
    the router's state in memory or shared (``state``: omniroute_state; raises
    :class:`~.sharing.StateError`)."""
    shared = open_state(chosen(state, config.state))
    responses = open_responses(data_dir, store, persist=store is not None)
    return Engine(config, direct_token=direct_token, responses=responses, store=store, state=shared)
