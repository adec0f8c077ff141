"""The request log (off by default; ``omniroute_log_requests``), for bug reports.

One file per request under ``<data dir>/requests/`` (folder 0700, files 0600
whatever the umask; each file is new, opened with ``O_EXCL | O_NOFOLLOW`` so
a symlink planted at its path is not followed): the client's
request, each upstream request (translated) and response, and the client's
response, in that order. Credentials are masked: auth headers by name,
and every configured key and the client's own credential wherever they
appear. Each section is cut at ``cap`` bytes; the oldest files go beyond
``keep`` files.

The exchange sets :data:`current` for its task; the upstream client and the
client sink write through :func:`note` so no signature carries the log.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from omniroute_mitm.engine.core import private
from omniroute_mitm.engine.core.config import Config

if TYPE_CHECKING:
    from omniroute_mitm.engine.core.inbound import Sink

log = logging.getLogger(__name__)

SECRET_HEADERS = frozenset({
    "authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "set-cookie",
    "proxy-authorization", "x-omniroute-secret",
})  # fmt: skip
_seq = itertools.count(1)


class RequestLog:
    """Where the request files go (one per engine)."""

    def __init__(self, folder: Path, *, cap: int = 256 * 1024, keep: int = 500) -> None:
        self.folder, self.cap, self.keep = folder, cap, keep
        private.warn_if_wider(folder.parent, folder, holds="prompts and answers")
        private.private_dir(folder)

    def start(self, record_id: int, redact: Callable[[str], str]) -> ExchangeLog:
        self.rotate()
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{record_id:06d}-{next(_seq)}.log"
        return ExchangeLog(self.folder / name, self.cap, redact)

    def rotate(self) -> None:
        files = sorted(self.folder.glob("*.log"))  # names start with the time: oldest first
        for old in files[: max(0, len(files) - self.keep + 1)]:
            old.unlink(missing_ok=True)


class ExchangeLog:
    """One request's sections, kept in memory (each capped) and written in
    order when the exchange ends: streams interleave upstream and client."""

    def __init__(self, path: Path, cap: int, redact: Callable[[str], str]) -> None:
        self.path, self.cap, self.redact = path, cap, redact
        self.sections: list[tuple[str, str, bytearray]] = []
        self._sizes: dict[int, int] = {}

    def head(self, title: str, first_line: str, headers: Iterable[tuple[str, str]]) -> None:
        lines = [first_line, *(f"{k}: {mask(k, v)}" for k, v in headers)]
        self.sections.append((title, "\n".join(lines), bytearray()))

    def body(self, kind: str, data: bytes) -> None:
        """Append to the latest section whose title starts with ``kind``."""
        for i in range(len(self.sections) - 1, -1, -1):
            title, _, buf = self.sections[i]
            if title.startswith(kind):
                self._sizes[i] = self._sizes.get(i, 0) + len(data)
                buf += data[: max(0, self.cap - len(buf))]
                return

    def close(self) -> None:
        parts = []
        for i, (title, head, buf) in enumerate(self.sections):
            text = buf.decode("utf-8", "replace")
            if self._sizes.get(i, 0) > self.cap:
                text += f"\n[... {self._sizes[i]} bytes, cut at {self.cap}]"
            parts.append(f"===== {title} =====\n{head}\n\n{text}\n")
        try:
            fd = private.create_file(self.path)  # never through a planted symlink
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.redact("\n".join(parts)))
        except OSError as exc:  # a full disk must not fail the request
            log.warning("request log %s: %s", self.path.name, exc)


def mask(name: str, value: str) -> str:
    return "***" if name.lower() in SECRET_HEADERS else value


current: contextvars.ContextVar[ExchangeLog | None] = contextvars.ContextVar(
    "omniroute_request_log", default=None
)


def note_head(title: str, first_line: str, headers: Iterable[tuple[str, str]]) -> None:
    if (entry := current.get()) is not None:
        entry.head(title, first_line, headers)


def note(kind: str, data: bytes) -> None:
    if (entry := current.get()) is not None and data:
        entry.body(kind, data)


class LoggedSink:
    """The client's response, written to the log as it is sent."""

    def __init__(self, inner: Sink, entry: ExchangeLog) -> None:
        self.inner, self.entry = inner, entry

    @property
    def committed(self) -> bool:
        return self.inner.committed

    def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.entry.head("client response", f"HTTP {status}", headers)
        self.inner.head(status, headers)

    async def send(self, data: bytes) -> None:
        self.entry.body("client response", data)
        await self.inner.send(data)

    def abort(self) -> None:
        self.entry.head("client response", "(connection cut)", [])
        self.inner.abort()


class Redactor:
    """Secrets out of what the request log and error messages show: the
    configured provider keys, and (for the log) the client's own credential."""

    def __init__(self, config: Config, credential: str | None) -> None:
        self.config = config
        self.credential = (credential or "").split(" ", 1)[-1]  # Bearer x -> x

    def everything(self, text: str) -> str:
        """Configured keys and the client's own credential."""
        if len(self.credential) >= 8:
            text = text.replace(self.credential, "***")
        return self.keys(text)

    def keys(self, text: str) -> str:
        for provider in self.config.providers.values():
            for key in provider.keys:
                secret = key.get_secret_value()
                if len(secret) >= 8:
                    text = text.replace(secret, "***")
        return text
