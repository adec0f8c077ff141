"""Responses API state on any provider: stored responses, ``previous_response_id``
chains and Codex's compaction, for Responses clients routed anywhere.

The pipeline calls :func:`begin` once per Responses request (before routing
and translation) and wraps its sink in :class:`Watch`; the stored-response
endpoints read :mod:`.endpoints`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .capture import Watch
from .conversation import (
    Conversation,
    PreviousNotFound,
    begin,
    held_response,
    stateless,
    with_history,
)
from .conversations import answer as conversation_answer
from .retrieval import deleted, input_items_page, not_found
from .store import MemoryBacking, ResponseStore, Stored, StoreUnreachable

if TYPE_CHECKING:
    from omniroute_mitm.engine.core.database import Store
    from omniroute_mitm.engine.core.inbound import Inbound


def open_responses(
    data_dir: str | None = None, store: Store | None = None, *, persist: bool = True
) -> ResponseStore:
    """The response store in the engine's database under the data dir
    (``data_dir`` as the omniroute_data_dir option gives it; see engine.db),
    or in ``store`` when the engine already opened it (one writer for both).
    ``persist=False`` (``omniroute_store=none``): in memory, nothing on disk."""
    from omniroute_mitm.engine.core import database

    from .sqlite import DbBacking

    if store is None and not persist:
        return ResponseStore(MemoryBacking())
    if store is None:
        store = database.open_store(database.DEFAULT_URL, base=database.data_dir(data_dir))
    return ResponseStore(DbBacking(store))


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
    "StoreUnreachable",
    "Watch",
    "begin",
    "conversation_answer",
    "held_response",
    "open_responses",
    "deleted",
    "input_items_page",
    "not_found",
    "rewritten",
    "stateless",
    "with_history",
]
