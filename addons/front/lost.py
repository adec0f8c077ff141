"""Usage rows for the calls an engine could not finish: it died under them
(``kill -9``, out of memory) and wrote nothing. The front writes one row per
such call into the same store, marked as such: route ``<model> -> engine
lost``, status 502, error class ``engine_lost``, no tokens (nobody knows
them) and no cost. Process mode only: an external engine's store is its own."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from mitmproxy import http
from omniroute_mitm.engine.core import database
from omniroute_mitm.engine.core.calls import Call, decode_body
from omniroute_mitm.engine.core.inbound import client_app, key_id

log = logging.getLogger("omniroute")

COLUMNS = (
    "time", "client_format", "client_app", "kind", "stream", "requested_model", "route",
    "target", "attempt", "fallbacks", "provider", "upstream_model", "key_id", "native",
    "status", "error_class", "error", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "estimated", "ttft_ms", "total_ms", "cost",
)  # fmt: skip
"""The usage table's columns (its first version: they never change)."""
INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
INSERT_USER = (f"INSERT INTO requests ({', '.join(COLUMNS)}, \"user\") "
               f"VALUES ({', '.join('?' * (len(COLUMNS) + 1))})")  # fmt: skip
"""With the proxy user (a column the engine's store added in its 5th version)."""
ERROR_CLASS = "engine_lost"
MESSAGE = "the engine stopped under this call (row written by the front: tokens unknown)"


def model_and_stream(flow: http.HTTPFlow, call: Call) -> tuple[str, bool]:
    """What the client asked for, read off its request (best effort)."""
    if call.model is not None:
        return call.model, bool(call.stream)
    raw = flow.request.raw_content
    if not raw:  # streamed to the engine: not kept
        return "?", False
    try:
        body = json.loads(decode_body(raw, flow.request.headers.get("content-encoding")))
    except Exception:  # noqa: BLE001 (anything unreadable: the row says "?")
        return "?", False
    if not isinstance(body, dict):
        return "?", False
    model = body.get("model")
    return (model if isinstance(model, str) and model else "?"), body.get("stream") is True


def row(flow: http.HTTPFlow, call: Call) -> tuple[Any, ...]:
    model, stream = model_and_stream(flow, call)
    headers = flow.request.headers
    credential = next((headers[n] for n in ("x-api-key", "x-goog-api-key", "authorization")
                       if n in headers), None)  # fmt: skip
    started = flow.request.timestamp_start
    values = {
        "time": started, "client_format": call.format,
        "client_app": client_app(headers.get("user-agent")), "kind": call.kind,
        "stream": int(stream), "requested_model": model, "route": f"{model} -> engine lost",
        "target": "", "attempt": 0, "fallbacks": "", "provider": "", "upstream_model": "",
        "key_id": key_id(credential), "native": 0, "status": 502, "error_class": ERROR_CLASS,
        "error": MESSAGE, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
        "cache_write_tokens": 0, "reasoning_tokens": 0, "estimated": 0, "ttft_ms": None,
        "total_ms": (time.time() - started) * 1000, "cost": None,
    }  # fmt: skip
    return tuple(values[name] for name in COLUMNS)


class LostUsage:
    """Writes the rows (the store opened on first need, closed with the front)."""

    def __init__(self) -> None:
        self._store: database.Store | None = None
        self._url = ""

    def write(self, flow: http.HTTPFlow, call: Call, url: str, base: str | None) -> None:
        if call.kind != "generate" or not url or url.lower() == "none":
            return
        try:
            if self._store is None or self._url != url:
                self.close()
                self._store = database.open_store(url, base=database.data_dir(base))
                self._url = url
            auth = flow.metadata.get("proxyauth")
            if isinstance(auth, tuple) and auth and auth[0]:
                self._store.write(INSERT_USER, (*row(flow, call), str(auth[0])))
            else:
                self._store.write(INSERT, row(flow, call))
        except database.StoreError as exc:
            log.error("omniroute: no usage row for a call the engine lost: %s", exc)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
