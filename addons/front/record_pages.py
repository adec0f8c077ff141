"""The front's client for the engine's record pages (the flow comment's tokens
and cost): kept-alive HTTP/1.1 on loopback, a few lines of asyncio.

One request per routed flow, on mitmproxy's own event loop: httpx cost ~1 ms
of CPU each (13% of mitmdump's time in the benchmark); this costs a tenth.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from omniroute_mitm.engine.core.headers import SECRET_HEADER

MAX_BODY = 1024 * 1024
log = logging.getLogger("omniroute")


class RecordClient:
    def __init__(self, timeout: float = 5.0, keep: int = 8) -> None:
        self.timeout, self.keep = timeout, keep
        self._idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def get(self, url: str, secret: str, record_id: int) -> dict[str, Any] | None:
        """The engine's JSON for ``record_id``; None if it has none or cannot say.

        A kept-alive connection the engine has closed meanwhile fails at once:
        the request is then sent again on a new one."""
        for fresh in (False, True):
            try:
                return await asyncio.wait_for(
                    self._get(url, secret, record_id, fresh), self.timeout
                )
            except (OSError, ValueError, EOFError, asyncio.IncompleteReadError) as exc:
                if fresh:
                    log.warning("no tokens for the flow comment: record %d: %r", record_id, exc)
            except TimeoutError:
                log.warning(
                    "no tokens for the flow comment: the engine did not send record %d in %g s",
                    record_id, self.timeout,
                )  # fmt: skip
                return None
        return None

    async def _get(
        self, url: str, secret: str, record_id: int, fresh: bool
    ) -> dict[str, Any] | None:
        idle = self._idle.setdefault(url, [])
        if idle and not fresh:
            reader, writer = idle.pop()
        else:
            parts = urlsplit(url)
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            writer.write(
                f"GET /omniroute/records/{record_id} HTTP/1.1\r\nhost: {urlsplit(url).netloc}\r\n"
                f"{SECRET_HEADER}: {secret}\r\n\r\n".encode()
            )
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(head[0].split(" ")[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head)}
            length = int(fields.get("content-length", "-1"))
            if not 0 <= length <= MAX_BODY:
                raise ValueError("no usable content-length")
            body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if len(idle) < self.keep and fields.get("connection", "").lower() != "close":
            idle.append((reader, writer))
        else:
            writer.close()
        found = json.loads(body) if status == 200 else None
        return found if isinstance(found, dict) else None

    def close(self) -> None:
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
        self._idle.clear()


class RecordLines:
    """The records an engine child announces on its stdout as each call
    ends (engine.serve.announce), by the front's call id: a flow's comment
    takes its record from here instead of asking the engine over HTTP.
    Records nobody takes are kept for the last ``keep`` calls only."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self._got: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def add(self, call_id: str, record: dict[str, Any]) -> None:
        waiter = self._waiting.pop(call_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(record)
            return
        self._got[call_id] = record
        while len(self._got) > self.keep:
            self._got.popitem(last=False)

    async def take(self, call_id: str, timeout: float) -> dict[str, Any] | None:
        """Call ``call_id``'s record, waiting up to ``timeout`` s for it
        (the line may come just after the answer's last bytes); None if none came."""
        record = self._got.pop(call_id, None)
        if record is not None:
            return record
        waiter = self._waiting[call_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(call_id, None)
