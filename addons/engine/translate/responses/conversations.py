"""The Conversations API (``/v1/conversations``), held by the engine.

A conversation is a list of items kept in the response store (a row whose
origin is ``conversation``). A Responses request naming it (``conversation``)
gets its items before the new input, and the new input and output items are
appended when the response completes (see :mod:`.conversation`).

Conversations are created here when Responses clients are routed anywhere but
native (or the client calls the engine directly); otherwise they are
OpenAI's own and the calls go there. Calls on a conversation this store holds
are always answered here.
"""

from __future__ import annotations

import time
from typing import Any

from omniroute_mitm.engine.core.config import NATIVE, Config
from omniroute_mitm.engine.core.errors import BadRequest, EngineError, NotFound
from omniroute_mitm.translators import ErrorInfo

from .items import Item, new_item_id, with_ids
from .retrieval import page
from .store import ResponseStore, Stored

ORIGIN = "conversation"
MAX_NEW_ITEMS = 20


class ConversationNotFound(EngineError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(404, f"Conversation with id '{conversation_id}' not found.", "not_found")

    def info(self) -> ErrorInfo:
        return ErrorInfo(404, "not_found", self.message, param="conversation")


def creates_here(config: Config) -> bool:
    """Whether Responses clients are routed anywhere but native."""
    return any(
        r.to != NATIVE and r.match.client in (None, "openai-responses") for r in config.routes
    )


def held(store: ResponseStore, conversation_id: str) -> Stored | None:
    found = store.get(conversation_id)
    return found if found is not None and found.origin == ORIGIN else None


def append(store: ResponseStore, conversation: Stored, items: list[Item]) -> None:
    conversation.input = [*conversation.input, *items]
    store.put(conversation)


def answer(
    store: ResponseStore,
    config: Config,
    method: str,
    path: str,
    body: dict[str, Any],
    native: bool,
) -> Any:
    """The answer to a Conversations API call, or None: it goes to OpenAI."""
    parts = path.partition("?")[0].strip("/").split("/")  # v1 conversations [id [items [item]]]
    rest = parts[2:]
    if not rest:
        if method != "POST" or (native and not creates_here(config)):
            return None
        return _create(store, body)
    conversation = held(store, rest[0])
    if conversation is None:
        if native:
            return None
        raise ConversationNotFound(rest[0])
    if len(rest) == 1:
        return _conversation(store, conversation, method, body)
    return _items(store, conversation, method, rest[2:], body, path)


def _create(store: ResponseStore, body: dict[str, Any]) -> dict[str, Any]:
    items = body.get("items") or []
    if not isinstance(items, list) or len(items) > MAX_NEW_ITEMS:
        raise BadRequest(f"'items' must be a list of at most {MAX_NEW_ITEMS} items")
    metadata = body.get("metadata") or {}
    obj = {"id": new_item_id("conv_"), "object": "conversation",
           "created_at": int(time.time()), "metadata": metadata}  # fmt: skip
    store.put(Stored(obj["id"], ORIGIN, with_ids(items), [], obj))
    return obj


def _conversation(
    store: ResponseStore, conversation: Stored, method: str, body: dict[str, Any]
) -> dict[str, Any]:
    if method == "DELETE":
        store.delete(conversation.id)
        return {"id": conversation.id, "object": "conversation.deleted", "deleted": True}
    if method == "POST":
        conversation.response = {**conversation.response, "metadata": body.get("metadata") or {}}
        store.put(conversation)
    return conversation.response


def _items(
    store: ResponseStore,
    conversation: Stored,
    method: str,
    item_path: list[str],
    body: dict[str, Any],
    path: str,
) -> Any:
    if not item_path:
        if method == "POST":
            added = with_ids([i for i in body.get("items") or [] if isinstance(i, dict)])
            append(store, conversation, added)
            return page(added, "?order=asc&limit=100")
        return page(list(conversation.input), path)
    item_id = item_path[0]
    found = [i for i in conversation.input if i.get("id") == item_id]
    if not found:
        raise NotFound(f"Item with id '{item_id}' not found.")
    if method == "DELETE":
        conversation.input = [i for i in conversation.input if i.get("id") != item_id]
        store.put(conversation)
        return conversation.response
    return found[0]
