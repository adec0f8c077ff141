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

from .config import Config, ConfigError, load_config, parse_config
from .endpoints import AI_HOSTS, Call, classify, is_ai_host, is_websocket_upgrade
from .history import open_responses
from .pipeline import RECORD_HEADER, ROUTE_HEADER
from .records import Record, Records
from .server import ORIGINAL_URL_HEADER, SECRET_HEADER, Engine
from .watch import ConfigWatcher

__all__ = [
    "AI_HOSTS",
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
