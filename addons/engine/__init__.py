"""The engine: routing, upstream calls, translation and streaming.

Public surface (what the front, the CLI and the tests use)::

    config = load_config("config.yaml")        # ConfigError(.lines) when invalid
    engine = Engine(config, secret=None, direct_token=None, ping_interval=10.0)
    port = engine.start()                      # in a running asyncio loop, 127.0.0.1
    engine.set_config(new_config)              # on reload
    engine.records.get(id)                     # what a request did
    await engine.stop()

Requests carry ``SECRET_HEADER`` (the engine's ``secret``) and, from the
front, ``ORIGINAL_URL_HEADER``; responses carry ``ROUTE_HEADER`` and
``RECORD_HEADER``. ``classify`` tells model calls from other requests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import Config, ConfigError, load_config, parse_config
from .endpoints import AI_HOSTS, Call, classify, is_ai_host, is_websocket_upgrade
from .headers import (
    FRONT_PORT_ENV,
    ORIGINAL_URL_HEADER,
    RECORD_HEADER,
    ROUTE_HEADER,
    SECRET_HEADER,
)

if TYPE_CHECKING:
    from .history import open_responses
    from .records import Record, Records
    from .server import Engine
    from .watch import ConfigWatcher

# Imported on first use: mitmdump's front with the engine in its own process
# never loads the server, httpx or tornado (about 10 MB less in that process).
_LAZY = {
    "Engine": "server",
    "open_responses": "history",
    "Record": "records",
    "Records": "records",
    "ConfigWatcher": "watch",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [
    "AI_HOSTS",
    "FRONT_PORT_ENV",
    "ORIGINAL_URL_HEADER",
    "RECORD_HEADER",
    "ROUTE_HEADER",
    "SECRET_HEADER",
    "Call",
    "Config",
    "ConfigError",
    "ConfigWatcher",
    "Engine",
    "Record",
    "Records",
    "classify",
    "is_ai_host",
    "is_websocket_upgrade",
    "load_config",
    "open_responses",
    "parse_config",
]
