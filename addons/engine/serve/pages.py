"""The engine's read-only pages under ``/omniroute/``.

The front forwards ``http://omniroute/<rest>`` (a magic host, through the
proxy) to the engine's ``/omniroute/<rest>`` with its secret:

- ``/omniroute/records/<id>``: what request ``id`` did (JSON: route, tokens,
  cost, fell back, failed); the front builds the flow comment from it.
- ``/omniroute/``: the usage dashboard (one offline HTML page).
- ``/omniroute/status``: the router's state (JSON, see :mod:`.status`).
- ``/omniroute/metrics``: Prometheus metrics (the text format, or OpenMetrics
  when the scraper asks for it; see :mod:`..record.metrics`).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from omniroute_mitm.engine.core.database import Store

from . import dashboard
from .runtime import Runtime
from .status import status

PREFIX = "/omniroute/"
METRICS = "/omniroute/metrics"
JSON = "application/json"
_RECORD = re.compile(r"^/omniroute/records/(\d+)$")

Page = tuple[int, str, bytes]
SETTLE_WAIT = 2.0
"""Seconds a record page waits for its request to end (tokens and cost final)."""


async def serve(rt: Runtime, store: Store | None, path: str, accept: str | None = None) -> Page:
    if m := _RECORD.match(path):
        record = rt.records.get(int(m.group(1)))
        if record is None:
            message = f"no record {m.group(1)} (the engine keeps the last 1000)"
            return _json(404, {"error": {"message": message}})
        if not record.settled.is_set():  # the front may ask as the last bytes go out
            try:
                await asyncio.wait_for(record.settled.wait(), SETTLE_WAIT)
            except TimeoutError:
                pass  # still running (read by hand): what is known so far
        return _json(200, record.public())
    if path == METRICS:
        return metrics(rt, accept)
    if path == "/omniroute/status":
        return 200, JSON, json.dumps(_status(rt), indent=2).encode()  # read by people
    if path in ("/omniroute/", "/omniroute/index.html"):
        page = await asyncio.to_thread(dashboard.render, store, None, rt.config)
        return 200, "text/html; charset=utf-8", page
    return _json(404, {"error": {"message": f"no page at {path}"}})


def metrics(rt: Runtime, accept: str | None) -> Page:
    body, media = rt.metrics.render(accept)
    return 200, media, body


def _status(rt: Runtime) -> dict[str, Any]:
    page = status(rt.config, rt.router)
    page["config"] = {"path": rt.config_path, "sha256": rt.config.digest}
    page["engine"] = {
        "in_flight": rt.exchanges,
        "upstream_in_flight": rt.upstream.open_requests,
        "requests_since_start": rt.exchanges_total,
        "upstream_requests_since_start": rt.upstream.requests_total,
    }
    return page


def _json(code: int, obj: Any) -> Page:
    return code, JSON, json.dumps(obj, separators=(",", ":")).encode()
