"""Responses API state on any provider: stored responses, ``previous_response_id``
chains and Codex's compaction, for Responses clients routed anywhere.

The pipeline calls :func:`begin` once per Responses request (before routing
and translation) and wraps its sink in :class:`Watch`; the stored-response
endpoints read :mod:`.endpoints`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .conversation import Conversation, PreviousNotFound, begin
from .endpoints import deleted, input_items_page, not_found
from .store import MemoryBacking, ResponseStore, Stored
from .watch import Watch

if TYPE_CHECKING:
    from ..exchange_io import Inbound


DATABASE = "omniroute.db"


def open_store(data_dir: str | os.PathLike[str] | None) -> ResponseStore:
    """The store in ``data_dir``'s database (created if missing), or in
    memory without a data dir."""
    if not data_dir:
        return ResponseStore()
    from .sqlite import open_sqlite

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return ResponseStore(open_sqlite(str(Path(data_dir) / DATABASE)))


def rewritten(inbound: Inbound, body: bytes) -> Inbound:
    """``inbound`` with a new (plain JSON) body, for the native path."""
    drop = ("content-encoding", "content-length")
    headers = [(k, v) for k, v in inbound.headers if k.lower() not in drop]
    return replace(inbound, body=body, headers=headers)


__all__ = [
    "Conversation",
    "MemoryBacking",
    "PreviousNotFound",
    "ResponseStore",
    "Stored",
    "Watch",
    "begin",
    "open_store",
    "deleted",
    "input_items_page",
    "not_found",
    "rewritten",
]
