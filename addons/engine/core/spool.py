"""The local spool of a server store: batches PostgreSQL could not take yet.

An append-only SQLite file under the data dir (0600, in a 0700 folder),
one row per batch in the order the writer made them, each with the batch's
id (the server records applied ids: a batch whose commit was in doubt is
never applied twice). Rows are deleted only once the server committed them,
so a ``kill -9`` loses nothing that reached the spool; the next start with
the same store URL writes what is left. Bounded by size: past
``max_bytes`` new batches are dropped (and counted) rather than filling the
disk. Statements and parameters are what the store was given: usage rows
hold a key's hash, never the key.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import private

MAX_BYTES = 256 * 1024 * 1024

Write = tuple[str, Sequence[Any] | dict[str, Any]]


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    return base64.b64decode(obj["$bytes"]) if set(obj) == {"$bytes"} else obj


def encode(batch: Sequence[Write]) -> str:
    return json.dumps([[sql, params] for sql, params in batch], default=_default)


def decode(text: str) -> list[Write]:
    return [(sql, params) for sql, params in json.loads(text, object_hook=_hook)]


class Spool:
    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.dropped = 0
        private.warn_if_wider(path, holds="prompts and answers")
        private.private_dir(path.parent)
        private.ensure_file(path)
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False,
                                     isolation_level=None)  # fmt: skip
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "batch TEXT NOT NULL, size INTEGER NOT NULL, body TEXT NOT NULL)"
        )
        self._lock = threading.Lock()

    def add(self, batch_id: str, batch: Sequence[Write]) -> int | None:
        """Append one batch; its row number, or None when the spool is full."""
        body = encode(batch)
        with self._lock:
            if self.size() + len(body) > self.max_bytes:
                self.dropped += len(batch)
                return None
            cur = self._conn.execute(
                "INSERT INTO spool (batch, size, body) VALUES (?, ?, ?)",
                (batch_id, len(body), body),
            )
            return int(cur.lastrowid or 0)

    def head(self, limit: int = 20) -> list[tuple[int, str, list[Write]]]:
        """The oldest batches: (row number, batch id, writes)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, batch, body FROM spool ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, batch_id, decode(body)) for seq, batch_id, body in rows]

    def remove(self, seq: int) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM spool WHERE seq = ?", (seq,))

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def size(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(SUM(size), 0) FROM spool").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
