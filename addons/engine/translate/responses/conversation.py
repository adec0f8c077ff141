"""One Responses request's state, decided once before routing and translation.

:func:`begin` looks at the request and its route:

- ``previous_response_id`` held by the store: passed through when every
  attempt goes to the destination that issued it (it has the conversation),
  otherwise replaced by the whole conversation (our stored chain + the new
  input). Not held: only the attempts that may hold it themselves (native,
  Responses providers) are tried; when there is none, the Responses API's own
  400 ``previous_response_not_found``, and nothing goes upstream.
- our compaction items become plain user messages (see :mod:`.items`);
- a ``compaction_trigger`` for a route that is not all OpenAI is emulated:
  the target is asked for a summary, and :class:`.watch.Watch` turns its
  answer into the one compaction item Codex expects.

The returned :class:`Conversation` then watches what the client is sent and
stores the completed response (see :meth:`Conversation.completed`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from omniroute_mitm.engine.core.errors import EngineError
from omniroute_mitm.engine.core.records import Record
from omniroute_mitm.engine.route.plan import Attempt
from omniroute_mitm.translators import ErrorInfo
from omniroute_mitm.translators.resent import Resent

from .conversations import ConversationNotFound, append, held
from .items import (
    TRIGGER,
    Item,
    expand_compactions,
    has_trigger,
    input_items,
    replace_trigger,
    with_ids,
)
from .store import ResponseStore, Stored

if TYPE_CHECKING:
    from omniroute_mitm.engine.core.inbound import Inbound

log = logging.getLogger(__name__)

OPENAI_HOSTS = frozenset({"api.openai.com", "chatgpt.com"})
RESPONSES = "openai-responses"


class PreviousNotFound(EngineError):
    """The Responses API's own error for an unknown previous response."""

    def __init__(self, response_id: str) -> None:
        super().__init__(
            400, f"Previous response with id '{response_id}' not found.", "invalid_request"
        )

    def info(self) -> ErrorInfo:
        return ErrorInfo(
            400,
            "invalid_request",
            self.message,
            code="previous_response_not_found",
            param="previous_response_id",
        )


def held_response(store: ResponseStore, response_id: str) -> Stored | None:
    """A stored response (not a conversation) by id."""
    found = store.get(response_id)
    return found if found is not None and found.origin != "conversation" else None


def with_history(store: ResponseStore, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the stored conversation before its input, for estimates
    made before the attempts are known (the router's context fit)."""
    previous = body.get("previous_response_id")
    if not isinstance(previous, str) or held_response(store, previous) is None:
        return body
    history = store.history(previous, touch=False)
    return body if history is None else {**body, "input": history + input_items(body.get("input"))}


def destination(attempt: Attempt, native_host: str | None) -> str:
    """Where an attempt goes, as stored in ``origin``."""
    if attempt.native:
        return f"native:{native_host or 'api.openai.com'}"
    return f"provider:{attempt.provider_name}"


def keeps_state(attempt: Attempt) -> bool:
    """Whether the attempt's destination may hold Responses state itself."""
    return attempt.native or (attempt.provider is not None and attempt.provider.format == RESPONSES)


def is_openai(attempt: Attempt, native_host: str | None) -> bool:
    if attempt.native:
        return (native_host or "api.openai.com") in OPENAI_HOSTS
    assert attempt.provider is not None
    return (urlsplit(attempt.provider.base_url).hostname or "") in OPENAI_HOSTS


@dataclass(slots=True)
class Conversation:
    store: ResponseStore
    record: Record
    native_host: str | None
    raw_input: Any
    """The request's own ``input`` as sent (ids are added only when it is kept)."""
    previous_id: str | None
    store_flag: bool | None
    compacting: bool = False
    changed: bool = False
    body: dict[str, Any] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    """Provider name -> its wire format, for the route's attempts."""
    compact_endpoint: bool = False
    """POST /v1/responses/compact: the answer is a compacted response."""
    retained: list[Item] = field(default_factory=list)
    """The user messages a compacted response lists before its compaction item."""
    conversation: Stored | None = None
    """The held conversation (Conversations API) the answer is appended to."""
    kept: bool = False
    """Something was written to the store (see :meth:`settled`)."""

    @property
    def watching(self) -> bool:
        """Whether the answer must be seen: to rewrite it, or to keep it."""
        if self.compacting or self.conversation is not None:
            return True
        if self.store_flag is False:
            return False
        return self.store_flag is True or any(f != RESPONSES for f in self.formats.values())

    def completed(self, response: dict[str, Any]) -> None:
        """The client got ``response`` (completed or incomplete): keep it when
        the request allows it and someone needs it."""
        if self.compacting or not self.record.attempts:
            return
        own = with_ids(input_items(self.raw_input))
        output = response.get("output") if isinstance(response.get("output"), list) else []
        try:
            self.kept = True
            self._keep(response, own, output)
        except Exception:  # the client has its answer; a full disk must not fail it
            log.exception("response store: cannot keep %s", response.get("id"))

    async def settled(self) -> None:
        """What :meth:`completed` wrote is where any instance reads it."""
        if self.kept:
            await self.store.settle()

    def _keep(self, response: dict[str, Any], own: list[Item], output: list[Item]) -> None:
        if self.conversation is not None:
            append(self.store, self.conversation, [*own, *output])
        if self.store_flag is False:
            return
        label = self.record.attempts[-1]
        provider = label.split("/", 1)[0]
        translated = label != "native" and self.formats.get(provider) != RESPONSES
        if not (translated or self.store_flag is True):
            return
        response_id = response.get("id")
        if not isinstance(response_id, str) or not response_id:
            return
        origin = self._origin(label)
        kept = {**response, "previous_response_id": self.previous_id, "store": True}
        self.store.put(Stored(response_id, origin, own, output, kept, self.previous_id))

    def _origin(self, label: str) -> str:
        if label == "native":
            return f"native:{self.native_host or 'api.openai.com'}"
        return f"provider:{label.split('/', 1)[0]}"


def stateless(top: Mapping[str, Any], raw: bytes, *, compact: bool = False) -> bool:
    """Whether a request needs nothing :func:`begin` does (Codex's turns:
    ``store: false``, the whole input sent each time): no
    previous_response_id or conversation, nothing to keep, no compaction
    item to expand or ask for, not the compact endpoint. Such a body can go
    on as its bytes (see engine.core.toplevel)."""
    return (
        not compact
        and top.get("store") is False
        and not top.get("previous_response_id")
        and top.get("conversation") is None
        and not _mentions_compaction(raw)
    )


def _mentions_compaction(raw: bytes) -> bool:
    """Whether ``compaction`` is anywhere in ``raw`` (a compaction item, or
    text about one: either way the request goes the whole way). Searching a
    1 MB body takes ~0.5-1 ms (common letters): a body that continues one
    found clean (the next turn of a conversation) is searched only from
    where the two differ."""
    last, same = _CLEAN.closest(raw)
    start = max(same - len(_NEEDLE) + 1, 0)
    if raw.find(_NEEDLE, start) >= 0:
        _CLEAN.forget(last)
        return True
    if len(raw) >= _CLEAN.head:
        _CLEAN.remember(raw, None, replaces=last)
    return False


_NEEDLE = b"compaction"
_CLEAN: Resent[None] = Resent(keep=8)
"""The last bodies found without ``compaction``."""


def begin(
    store: ResponseStore,
    body: dict[str, Any],
    attempts: list[Attempt],
    inbound: Inbound,
    record: Record,
    *,
    compact: bool = False,
) -> tuple[Conversation, list[Attempt]]:
    """The request's conversation (``body`` is changed in place when the
    request must be rewritten) and the attempts to make."""
    host = inbound.host
    previous = body.get("previous_response_id")
    previous = previous if isinstance(previous, str) and previous else None
    flag = body.get("store")
    conv = Conversation(
        store,
        record,
        host,
        body.get("input"),
        previous,
        flag if isinstance(flag, bool) else None,
        body=body,
        formats={a.provider_name or "": a.provider.format for a in attempts if a.provider},
    )
    if previous is not None:
        attempts = _chain(conv, attempts, previous)
    if (named := _conversation_id(body.get("conversation"))) is not None:
        attempts = _conversation(conv, attempts, named)
    items = input_items(body.get("input"))
    if (expanded := expand_compactions(items)) is not None:
        body["input"], conv.changed, items = expanded, True, expanded
    if compact and not all(a.native and is_openai(a, host) for a in attempts):
        conv.compact_endpoint = True
        conv.retained = with_ids([i for i in items if i.get("role") == "user"])
        items = [*items, {"type": TRIGGER}]
    if has_trigger(items) and not all(is_openai(a, host) for a in attempts):
        body["input"] = replace_trigger(items)
        body["tool_choice"] = "none"
        conv.compacting = conv.changed = True
    return conv, attempts


def _conversation_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _conversation(conv: Conversation, attempts: list[Attempt], named: str) -> list[Attempt]:
    """A conversation held here: its items before the input, and the answer
    appended to it. OpenAI's own: only native attempts can use it."""
    found = held(conv.store, named)
    if found is None:
        usable = [a for a in attempts if a.native]
        if not usable:
            raise ConversationNotFound(named)
        return usable
    conv.conversation = found
    conv.body["input"] = [*found.input, *input_items(conv.body.get("input"))]
    del conv.body["conversation"]
    conv.changed = True
    return attempts


def _chain(conv: Conversation, attempts: list[Attempt], previous: str) -> list[Attempt]:
    body = conv.body
    issued = held_response(conv.store, previous)
    if issued is not None:
        same = (destination(a, conv.native_host) == issued.origin for a in attempts)
        if all(same) and all(keeps_state(a) for a in attempts):
            return attempts  # the issuer has the conversation: untouched
        history = conv.store.history(previous)
        if history is not None:
            body["input"] = history + input_items(body.get("input"))
            del body["previous_response_id"]
            conv.changed = True
            return attempts
    usable = [a for a in attempts if keeps_state(a)]
    if not usable:
        raise PreviousNotFound(previous)
    return usable
