"""Which conversation a request belongs to (for session affinity).

What the clients send (checked against the real CLIs in tests/clients):

- Claude Code: ``metadata.user_id``, either ``user_<h>_account_<id>_session_<uuid>``
  or a JSON string with ``session_id``;
- Codex: a ``session_id`` (older: ``conversation_id``) header, and
  ``prompt_cache_key`` in the body;
- Gemini CLI logged in with Google: ``user_prompt_id`` in the Code Assist
  envelope, ``<session>########<turn>``.

Anything else: a hash of the system prompt and the first user turn, which
stay the same for every turn of one conversation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from omniroute_mitm.engine.core.toplevel import TopLevel

_SESSION = re.compile(r"session_([0-9A-Za-z-]{8,})")


def conversation_id(fmt: str, headers: list[tuple[str, str]], body: Mapping[str, Any]) -> str:
    found = _from_client(headers, body)
    if found:
        return "s:" + _digest(found)
    return "h:" + _digest(_first_turn(fmt, body))


def _from_client(headers: list[tuple[str, str]], body: Mapping[str, Any]) -> str | None:
    wanted = {"session_id", "session-id", "conversation_id", "x-session-id"}
    for name, value in headers:
        if name.lower() in wanted and value:
            return value
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        user = metadata["user_id"]
        if m := _SESSION.search(user):
            return m.group(1)
        try:
            parsed = json.loads(user)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("session_id"):
            return str(parsed["session_id"])
    for key in ("prompt_cache_key", "user_prompt_id"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value.split("########")[0]
    return None


def _first_turn(fmt: str, body: Mapping[str, Any]) -> str:
    """The system prompt and the first user turn, as text to hash."""
    system: Any = body.get("system") or body.get("instructions") or body.get("systemInstruction")
    turns: Any = _turns(body)
    first: Any = None
    if isinstance(turns, list):
        first = next(
            (t for t in turns if isinstance(t, dict) and t.get("role") in ("user", None)), None
        )
        if system is None and fmt not in ("anthropic", "gemini"):  # (no system turns there)
            system = next(
                (
                    t
                    for t in turns
                    if isinstance(t, dict) and t.get("role") in ("system", "developer")
                ),
                None,
            )
    elif isinstance(turns, str):
        first = turns
    return json.dumps([fmt, system, first], sort_keys=True, default=str)


def _turns(body: Mapping[str, Any]) -> Any:
    """The conversation's turns; of a body split at its top level, an
    iterator that decodes them one by one (the first user turn is near the
    start of a long conversation)."""
    for key in ("messages", "contents", "input"):
        if isinstance(body, TopLevel):
            items = body.items_of(key)
            if items is not None:
                return _Turns(items)
        value = body.get(key)
        if value:
            return value
    return []


class _Turns(list[Any]):
    """A list stand-in over lazily decoded turns, read from the start."""

    def __init__(self, items: Iterator[Any]) -> None:
        super().__init__()
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        yield from super().__iter__()
        for item in self._items:
            self.append(item)
            yield item


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).hexdigest()
