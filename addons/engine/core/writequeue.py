"""The queue between a store's callers and its writer thread (both stores:
:mod:`.database`'s SQLite one and :mod:`.pgstore`'s)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

Write = tuple[str, Sequence[Any] | dict[str, Any]]
"""One statement and its parameters."""


class WriteQueue:
    """The writes a store's writer thread commits in batches (both stores).

    Callers queue a statement (``_put`` returns its ticket), a flush an Event,
    a close None; the first item of a batch wakes the writer, a flush or close
    makes it commit at once instead of gathering for ``interval``."""

    _closed: bool
    _thread: threading.Thread

    def _init_queue(self) -> None:
        self._pending: list[Write | threading.Event | None] = []
        self._lock = threading.Lock()
        self._work = threading.Event()  # something is pending
        self._urgent = threading.Event()  # a flush or close waits: commit now
        self._ticket = 0

    def _put(self, item: Write | threading.Event | None, urgent: bool = False) -> int:
        with self._lock:
            self._pending.append(item)
            if isinstance(item, tuple):
                self._ticket += 1
            if len(self._pending) == 1:
                self._work.set()  # the first of a batch wakes the writer
            if urgent:
                self._urgent.set()
            return self._ticket

    def _take_queued(self) -> tuple[list[Write | threading.Event | None], int]:
        """What is queued (the writer's next batch) and the last ticket in it."""
        with self._lock:
            items, self._pending = self._pending, []
            last = self._ticket
            self._work.clear()
            self._urgent.clear()
        return items, last

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is written (committed, or in
        the PostgreSQL store's spool while its server is down)."""
        if self._closed or not self._thread.is_alive():
            return
        done = threading.Event()
        self._put(done, urgent=True)
        done.wait(timeout)
