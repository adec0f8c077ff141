"""GET/DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items,
answered from the store for the responses it holds, in the Responses
shapes; anything else goes to the client's own destination."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from omniroute_mitm.engine.core.errors import BadRequest, NotFound

from .items import Item
from .store import ResponseStore, Stored

MAX_LIMIT = 100


def retrieved(stored: Stored) -> dict[str, Any]:
    return stored.response


def deleted(response_id: str) -> dict[str, Any]:
    return {"id": response_id, "object": "response", "deleted": True}


def not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.")


def input_items_page(store: ResponseStore, stored: Stored, path: str) -> dict[str, Any]:
    """The items used to generate ``stored`` (the whole conversation before
    it, then its own input), one page as the API lists them."""
    return page(_conversation(store, stored), path)


def page(items: list[Item], path: str) -> dict[str, Any]:
    """One page of ``items`` (oldest first) by the query of ``path``:
    ``order`` (default desc), ``limit`` (default 20) and ``after``."""
    query = parse_qs(urlsplit(path).query)
    order = _one(query, "order") or "desc"
    if order not in ("asc", "desc"):
        raise BadRequest(f"Invalid 'order': {order!r}; expected 'asc' or 'desc'")
    limit = _limit(_one(query, "limit"))
    items = list(items)
    if order == "desc":
        items.reverse()
    after = _one(query, "after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }


def _conversation(store: ResponseStore, stored: Stored) -> list[Item]:
    before = store.history(stored.previous_id) if stored.previous_id else []
    return [*(before or []), *stored.input]


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid 'limit': {raw!r}; expected an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"Invalid 'limit': {limit}; expected 1 to {MAX_LIMIT}")
    return limit
